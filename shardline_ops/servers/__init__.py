"""Background servers the CLI starts on 127.0.0.1: Airflow standalone, the Spark Thrift server and a Spark
standalone cluster, with their shared process handling (``processes``)."""
