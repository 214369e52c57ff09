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
USER hotline
EXPOSE 5000
CMD ["hotline", "web"]
