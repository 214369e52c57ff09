FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY settings.py webhooks.py ./
COPY hotline ./hotline
COPY routing ./routing
COPY workers ./workers
COPY twilio_standin ./twilio_standin
RUN pip install --no-cache-dir .
RUN useradd --system --no-create-home hotline
# The var directory (HOTLINE_VAR_DIR, ./var): the web server's metrics files live there.
RUN mkdir -p /app/var && chown hotline /app/var
USER hotline
EXPOSE 5000
CMD ["hotline", "web"]
