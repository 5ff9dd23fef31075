#!/bin/sh
# certbot deploy hook (docs/deploy.md): after each issue or renewal, copies the certificate chain and key
# where the rtmp-server user may read them, then has the server re-read them (SIGHUP: streams go on).
# certbot's own files stay root-only; certbot sets RENEWED_LINEAGE to the live/DOMAIN directory.
set -eu

tls_dir=${RTMP_SERVER_TLS_DIR:-/etc/rtmp-server/tls}
group=${RTMP_SERVER_GROUP:-rtmp-server}

install -d -m 0750 -g "$group" "$tls_dir"
# Copy under temporary names first, then rename over the old pair: the server never reads a half-written file.
install -m 0640 -g "$group" "$RENEWED_LINEAGE/fullchain.pem" "$tls_dir/fullchain.pem.new"
install -m 0640 -g "$group" "$RENEWED_LINEAGE/privkey.pem" "$tls_dir/privkey.pem.new"
mv -f "$tls_dir/fullchain.pem.new" "$tls_dir/fullchain.pem"
mv -f "$tls_dir/privkey.pem.new" "$tls_dir/privkey.pem"

# Not running yet (first issue, before the service is installed): it reads the files when it starts.
if systemctl is-active --quiet rtmp-server; then
  systemctl reload rtmp-server
fi
