"""HTML/PDF reports built from the MLflow store only (never imports training code)."""
