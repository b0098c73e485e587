# nginx as infra/nginx/pledge.conf expects it: Debian's package with the brotli_static module.
# The official nginx image has no brotli module, and `brotli_static on;` would stop it loading the
# configuration. compose.yaml builds this image and mounts the configuration and the site.
FROM debian:bookworm-slim
# Debian's nginx.conf loads every module in /etc/nginx/modules-enabled/, where the brotli
# package puts its `load_module` line, and includes /etc/nginx/conf.d/*.conf inside `http {}`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx libnginx-mod-http-brotli-static \
    && rm -rf /var/lib/apt/lists/* \
    && rm -f /etc/nginx/sites-enabled/default \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log \
    && mkdir -p /srv/pledge/site
EXPOSE 80
# nginx stops gracefully (finishing requests in flight) on SIGQUIT.
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
