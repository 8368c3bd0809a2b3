#!/bin/bash
# LocalStack init hook (mounted into /etc/localstack/init/ready.d by the
# compose files): creates the Kinesis stream the services sink to when
# BANKMOCK_SINK=kinesis:<stream> is set (docs/kinesis.md), once LocalStack
# is ready. Its data volume keeps the stream across restarts, so an
# existing stream is left alone.
#   KINESIS_STREAM  the stream's name (default bankmock-events)
#   KINESIS_SHARDS  its shard count (default 2)
set -euo pipefail

stream=${KINESIS_STREAM:-bankmock-events}
shards=${KINESIS_SHARDS:-2}

if awslocal kinesis describe-stream-summary --stream-name "$stream" >/dev/null 2>&1; then
    echo "init-kinesis: stream $stream exists"
    exit 0
fi
awslocal kinesis create-stream --stream-name "$stream" --shard-count "$shards"
awslocal kinesis wait stream-exists --stream-name "$stream"
echo "init-kinesis: created stream $stream ($shards shards)"
