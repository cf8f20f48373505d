# The release image: the static binary `make build` produces (CGO_ENABLED=0, -trimpath,
# -ldflags '-s -w' with the version injected) on an empty base. Nothing else is in the image:
# no shell, no libc, no CA bundle (the kubelet's CA comes from the service account mount).
#   make build && docker build -t ephemeral-storage-exporter .
# Dockerfile.build builds the binary itself; its final stage must stay identical to this one
# (deploy/test checks USER, ENTRYPOINT and EXPOSE of both).
FROM scratch
COPY bin/ephemeral-storage-exporter /bin/ephemeral-storage-exporter
USER 65532:65532
EXPOSE 9847
ENTRYPOINT ["/bin/ephemeral-storage-exporter"]
