// Package k8sbin pins the Kubernetes release whose kube-apiserver and kubelet the e2e suite builds
// from source (hack/e2e/build-k8s.sh). It is a separate module so that k8s.io/kubernetes stays out
// of the root go.mod. The replace block maps every staging module that k8s.io/kubernetes lists as
// `=> ./staging/...` to its published v0 version; regenerate it when bumping the version:
//
//	hack/e2e/build-k8s.sh --regen-gomod v1.X.Y
//
// Do not run `go mod tidy` here: nothing imports k8s.io/kubernetes (its commands are main
// packages), so tidy would drop the requirement; the build (GOFLAGS=-mod=mod) keeps go.sum current.
package k8sbin
