"""What is fitted on a trained model's scores or beside it, never by gradient descent: the jieba +
TF-IDF model (``baseline``), the blend weight and temperature per head (``calibration``) and the
review policy's thresholds (``review_policy``, called by calibration)."""
