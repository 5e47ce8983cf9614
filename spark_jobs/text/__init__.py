"""Text cleaning building blocks (pure Python, no Spark): normalisation, quality filters, PII, MinHash."""
