package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func runArgs(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		notOut   []string
		wantErr  string
	}{
		{"top on the sample", []string{"top", "--sample"}, 0,
			[]string{"NAMESPACE  POD                  BOUNDED                                  USAGE    BOUND    RATIO  EVICTED WHEN\n", "shop       web-5d8f7c9b4-x2k9p  emptyDir cache (disk)                    84.0Mi   100.0Mi  84.0%  used > sizeLimit\n", "node sample-node nodefs.available"}, nil, ""},
		{"top pods in one namespace", []string{"top", "pods", "--sample", "-n", "db"}, 0,
			[]string{"db         postgres-0  pod"}, []string{"shop", "nodefs", "imagefs"}, ""},
		{"top pods by label", []string{"top", "pods", "--sample", "-A", "-l", "app=web"}, 0,
			[]string{"web-5d8f7c9b4-x2k9p"}, []string{"postgres-0", "nodefs"}, ""},
		{"top nodes", []string{"top", "nodes", "--sample"}, 0,
			[]string{"node sample-node nodefs.available"}, []string{"postgres-0", "web-"}, ""},
		{"sort by name", []string{"top", "--sample", "--sort-by=name", "-o", "wide"}, 0,
			[]string{"NODE         NAMESPACE"}, nil, ""},
		{"unknown sort", []string{"top", "--sample", "--sort-by=cpu"}, 2, nil, nil, `error: --sort-by="cpu": want one of ratio, usage, limit, name`},
		{"unknown output", []string{"top", "--sample", "-o", "xml"}, 2, nil, nil, `error: -o "xml": want one of wide, json, yaml`},
		{"unknown kind", []string{"top", "cats", "--sample"}, 2, nil, nil, `error: top "cats": want pods or nodes`},
		{"unknown flag", []string{"top", "--bogus"}, 2, nil, nil, "error: unknown flag: --bogus"},
		{"watch the sample", []string{"top", "--sample", "--watch"}, 2, nil, nil, "error: --watch needs a live cluster"},
		{"du without a pod", []string{"du", "--sample"}, 2, nil, nil, "error: du takes exactly one pod name, got 0 arguments"},
		{"du across namespaces", []string{"du", "--sample", "-A", "postgres-0"}, 2, nil, nil, "error: du needs one namespace"},
		{"du of a missing pod", []string{"du", "--sample", "-n", "db", "nope"}, 1, nil, nil, "error: pod db/nope not found in the sample"},
		{"du", []string{"du", "--sample", "-n", "db", "postgres-0"}, 0,
			[]string{"Total 900.0Mi of pod limit 2.0Gi (43.9%): evicted when pod total > pod limit\n", "tmp                    empty_dir                disk    700.0Mi  1.0Gi       68.4%\n"}, nil, ""},
		{"help", []string{"top", "--help"}, 0,
			[]string{"kubectl ephemeral-storage top [pods|nodes]", "Examples:", "kubectl ephemeral-storage top --sample", "--kubeconfig", "--context", "-n, --namespace", "-A, --all-namespaces", "-l, --selector", "-o, --output"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runArgs(tt.args...)
			assert.Equal(t, tt.wantCode, code, "stderr: %s", errOut)
			for _, s := range tt.wantOut {
				assert.Contains(t, out, s)
			}
			for _, s := range tt.notOut {
				assert.NotContains(t, out, s)
			}
			if tt.wantErr == "" {
				assert.Empty(t, errOut)
			} else {
				assert.True(t, strings.HasPrefix(errOut, tt.wantErr), "stderr %q, want prefix %q", errOut, tt.wantErr)
			}
		})
	}
}

func TestDuJSON(t *testing.T) {
	code, out, _ := runArgs("du", "--sample", "-n", "db", "postgres-0", "-o", "json")
	require.Equal(t, 0, code)
	var doc struct {
		Total, Limit, Ratio float64
		Volumes             []struct {
			Name      string
			Medium    string
			Used      float64
			SizeLimit *float64
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, 943738880.0, doc.Total, "postgres-0's ephemeral-storage usedBytes in the sample summary")
	assert.Equal(t, 2.0*1024*1024*1024, doc.Limit)
	require.Len(t, doc.Volumes, 4)
	assert.Equal(t, "data", doc.Volumes[0].Name)
	assert.Nil(t, doc.Volumes[0].SizeLimit, "a PVC has no size limit: absent, not 0")
}

// TestForbiddenUser: a user with no RBAC at all gets exit code 1 and the permission named.
func TestForbiddenUser(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,` +
			`"message":"nodes is forbidden: User \"nobody\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"}`))
	}))
	defer srv.Close()
	code, out, errOut := runArgs("top", "-A", "--server", srv.URL, "--kubeconfig", "/dev/null")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Equal(t, `error: forbidden: the plugin needs "list nodes" (nodes are cluster-scoped): nodes is forbidden: User "nobody" cannot list resource "nodes" in API group "" at the cluster scope`+"\n", errOut)
}

// TestAgentFreeOfCLIDependencies keeps the agent's binary small: the plugin's CLI libraries and
// the inspect package must not reach it.
func TestAgentFreeOfCLIDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go tool runs the tests")
	raw, err := exec.Command(goBin, "list", "-deps", "../ephemeral-storage-exporter").Output()
	require.NoError(t, err)
	deps := strings.Fields(string(raw))
	require.True(t, slices.Contains(deps, "github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"), "the dependency list is the agent's")
	for _, d := range deps {
		for _, banned := range []string{"k8s.io/cli-runtime", "github.com/spf13/cobra", "/inspect"} {
			assert.NotContains(t, d, banned)
		}
	}
}
