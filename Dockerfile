# syntax=docker/dockerfile:1
# img's own image: `img build -t img .` from a checkout. It runs img as an ordinary user
# (uid 1000) that enters its own user namespace, so the container needs no privileges; the
# settings it does need (seccomp, AppArmor, /proc, two capabilities) are in deploy/README.md:
#
#   podman run --rm --security-opt seccomp=deploy/seccomp.json \
#     --security-opt apparmor=unconfined --security-opt unmask=ALL \
#     --cap-drop ALL --cap-add SETUID --cap-add SETGID \
#     -v "$PWD:/src:ro" img build --push -t reg.example/app /src
#
# BASE is any Debian 12 (bookworm) image; DENO_VERSION the Deno that runs img.
ARG BASE=debian:bookworm-slim

# Deno from the npm registry (the `deno` package's platform binary), and img bundled into one
# module with its npm dependencies, so the image runs offline.
FROM ${BASE} AS bundle
ARG DENO_VERSION=2.9.6
ARG TARGETARCH
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates wget >/dev/null \
 && rm -rf /var/lib/apt/lists/*
# Behind a TLS-inspecting proxy, hand the build its CA bundle:
#   --secret id=ca-certificates,src=/etc/ssl/certs/ca-certificates.crt
RUN --mount=type=secret,id=ca-certificates,target=/etc/ssl/certs/ca-certificates.crt \
    case "${TARGETARCH}" in amd64) arch=x64 ;; arm64) arch=arm64 ;; \
      *) echo "img's image: no Deno for ${TARGETARCH}" >&2; exit 1 ;; esac \
 && wget -qO- "https://registry.npmjs.org/@deno/linux-${arch}-glibc/-/linux-${arch}-glibc-${DENO_VERSION}.tgz" \
  | tar -xz -C /tmp package/deno \
 && install -m 0755 /tmp/package/deno /usr/local/bin/deno && rm -rf /tmp/package \
 && deno --version
COPY . /src
WORKDIR /src
RUN --mount=type=secret,id=ca-certificates,target=/etc/ssl/certs/ca-certificates.crt \
    DENO_DIR=/tmp/deno DENO_TLS_CA_STORE=mozilla,system \
    deno run -A tools/bundle.ts /img --frozen \
 && rm -rf /tmp/deno

FROM ${BASE}
# newuidmap and newgidmap with file capabilities instead of set-user-ID root (as Fedora ships
# them): set-user-ID, they write the id maps as the container's root, which has no
# CAP_SYS_ADMIN over the user namespace img (uid 1000) creates, so the kernel refuses; with
# file capabilities they keep img's uid, the namespace's owner, and only add CAP_SETUID/SETGID.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates crun uidmap fuse-overlayfs libcap2-bin >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && chmod u-s /usr/bin/newuidmap /usr/bin/newgidmap \
 && setcap cap_setuid=ep /usr/bin/newuidmap \
 && setcap cap_setgid=ep /usr/bin/newgidmap
# The user img runs as, with the subordinate ids its user namespace maps. A rootless container
# (podman's default, Kubernetes' hostUsers: false) has 65536 ids, 0 to 65535: the user is 1000
# and its range the 64535 ids above it, all inside the container's.
RUN useradd --uid 1000 --user-group --create-home --shell /bin/sh img \
 && echo "img:1001:64535" >/etc/subuid \
 && echo "img:1001:64535" >/etc/subgid \
 && mkdir -p /home/img/.local/share/img /home/img/.docker \
 && chown -R img:img /home/img
COPY --from=bundle /usr/local/bin/deno /usr/local/bin/deno
COPY --from=bundle /img /opt/img
RUN printf '#!/bin/sh\nexec deno run -A /opt/img/img.js "$@"\n' >/usr/local/bin/img \
 && chmod 0755 /usr/local/bin/img
USER img
WORKDIR /home/img
# Registries' certificates: Deno's own roots and the image's (so a derived image that adds a
# private CA with update-ca-certificates reaches its registry).
ENV DENO_NO_UPDATE_CHECK=1 DENO_TLS_CA_STORE=mozilla,system
# img's state on a volume rather than the container's own overlay root, where the kernel
# refuses an overlayfs (img would copy snapshots instead: the native backend).
VOLUME /home/img/.local/share/img
ENTRYPOINT ["img"]
CMD ["--help"]
