"""One store run: plan, extract, transform, data quality, load, summary (see ``steps``)."""
