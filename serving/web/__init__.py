"""Pages for people that do more than show a table: the supervisor's review workspace."""
