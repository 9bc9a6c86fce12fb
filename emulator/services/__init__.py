"""The service commands (`mwaa-local run NAME`) that docker-compose.yml and the native runtime
both start, and the health checks both use."""
