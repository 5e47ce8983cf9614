"""Shardline's command line, configuration and paths, atomic storage, background servers, alerts, assets and
sample data: everything a person runs and every part shares, apart from the Spark jobs themselves."""
