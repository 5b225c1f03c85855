# The CPU image: the API, the migrations and the sampling worker (docker-compose.yml builds it
# once as charlstm:latest). The GPU training worker has its own image, Dockerfile.gpu.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CHARLSTM_VAR_DIR=/app/var
WORKDIR /app

# Dependencies first, from pyproject.toml alone, so code changes do not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && python -m pip install -r /tmp/requirements.txt

# Then the code, installed in place (shared/db/migrate.py finds migrations/ next to shared/).
COPY README.md alembic.ini ./
COPY migrations migrations
COPY shared shared
COPY services services
COPY workers workers
RUN python -m pip install --no-deps -e . \
 && useradd --create-home charlstm \
 && mkdir -p var && chown charlstm var

USER charlstm
EXPOSE 8000
# waitress (services/serve.py): complete requests only reach its threads; every interface inside the container
CMD ["python", "-m", "services.serve", "--host", "0.0.0.0", "--port", "8000", "--threads", "8"]
