"""What analysts and supervisors read about many classified items: ``insights`` (the numbers,
shared by ``triage report`` and the service's /insights page), ``terms`` (the words that set a
class apart), ``charts`` (matplotlib) and ``report`` / ``report_cli`` (``triage report``: an
offline HTML report over a file ``triage score`` wrote).

Kept apart from scoring (``classifier.batch``): it reads what scoring wrote (the scored file and
its sidecar) and never the other way round."""
