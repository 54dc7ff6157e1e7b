#!/usr/bin/env bash
# One-shot (compose service kibana-setup): create the Kibana data view over Filebeat's indices, once.
set -euo pipefail

kibana="${KIBANA_URL:-http://kibana:5601}"
for _ in $(seq 1 60); do
  curl -fsS "${kibana}/api/status" >/dev/null 2>&1 && break
  sleep 5
done

if curl -fsS -H 'kbn-xsrf: passcompass' "${kibana}/api/data_views/data_view/passcompass-logs" >/dev/null 2>&1; then
  echo "kibana-setup: data view passcompass-logs exists"
  exit 0
fi
curl -fsS -X POST "${kibana}/api/data_views/data_view" \
  -H 'kbn-xsrf: passcompass' -H 'Content-Type: application/json' \
  -d '{"data_view": {"id": "passcompass-logs", "name": "PassCompass logs", "title": "filebeat-*", "timeFieldName": "@timestamp"}}' \
  >/dev/null
echo "kibana-setup: data view passcompass-logs created (Kibana > Discover)"
