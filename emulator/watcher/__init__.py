"""The bucket watcher: DAGs, plugins.zip and requirements.txt from S3 into the environment."""
