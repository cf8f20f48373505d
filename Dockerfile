# The release image: the static binaries `make build` produces (CGO_ENABLED=0, -trimpath,
# -ldflags '-s -w' with the version injected) on an empty base. Nothing else is in the image:
# no shell, no libc, no CA bundle (the kubelet's CA comes from the service account mount). The
# agent is the entrypoint; the events role's Deployment runs /bin/ephemeral-storage-events. One
# COPY: one layer.
#   make build && docker build -t ephemeral-storage-exporter .
# Dockerfile.build builds the binary itself; its final stage must stay identical to this one
# (deploy/test checks USER, ENTRYPOINT and EXPOSE of both).
FROM scratch
COPY bin/ephemeral-storage-exporter bin/ephemeral-storage-events /bin/
USER 65532:65532
EXPOSE 9847
ENTRYPOINT ["/bin/ephemeral-storage-exporter"]
