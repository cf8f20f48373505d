// Package test checks the deployment artifacts of ephemeral-storage-exporter: the Helm chart
// (deploy/helm), the kustomize base (deploy/kustomize), the rendered manifest (deploy/manifests)
// and the Dockerfiles. It is its own module so that Helm and kustomize stay out of the agent's
// dependencies; run it with `make test-deploy`.
package test
