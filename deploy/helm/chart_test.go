// Package helm_test lints and renders the Helm chart deploy/helm/dsop-bank with the Helm SDK, checks
// every rendered object against the Kubernetes API types (strict decoding: an unknown or mistyped
// field fails, no cluster or network needed), and checks that every container's environment is a
// configuration the server accepts (issue #27).
package helm_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/dsop-bank/dsop-bank/internal/admin"
	"github.com/dsop-bank/dsop-bank/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const (
	chartDir   = "dsop-bank"
	production = "dsop-bank/examples/production.yaml"
	testEnv    = "dsop-bank/examples/test.yaml"
)

// The Kubernetes release the chart is checked against (Chart.yaml asks for 1.27 or later).
const kubeVersion = "v1.31.0"

// valuesOf reads a values file and applies --set style overrides, as `helm install -f F --set S` does.
func valuesOf(t *testing.T, file string, sets ...string) map[string]any {
	t.Helper()
	vals := map[string]any{}
	if file != "" {
		v, err := common.ReadValuesFile(file)
		require.NoError(t, err)
		vals = v
	}
	for _, s := range sets {
		require.NoError(t, strvals.ParseInto(s, vals), s)
	}
	return vals
}

// render is `helm template`: schema validation, then the templates, as an install in namespace dsop.
func render(vals map[string]any) (map[string]string, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, err
	}
	caps := *common.DefaultCapabilities
	caps.KubeVersion = *kv
	rv, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: "dsop-bank", Namespace: "dsop", IsInstall: true}, &caps)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, rv)
}

// object is one rendered Kubernetes object, decoded into its API type.
type object struct {
	file string
	kind string
	name string
	raw  []byte
	obj  runtime.Object // nil for a custom resource (ServiceMonitor)
}

// objects renders vals and decodes every document strictly into the Kubernetes API types.
func objects(t *testing.T, vals map[string]any) []object {
	t.Helper()
	files, err := render(vals)
	require.NoError(t, err)
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	var out []object
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		r := k8syaml.NewYAMLReader(bufio.NewReader(strings.NewReader(files[name])))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, name)
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			require.NoError(t, sigsyaml.Unmarshal(doc, &head), "%s:\n%s", name, doc)
			if head.Kind == "" {
				continue // a document of comments only
			}
			o := object{file: name, kind: head.Kind, name: head.Metadata.Name, raw: doc}
			if head.APIVersion == "monitoring.coreos.com/v1" {
				checkServiceMonitor(t, doc)
			} else {
				o.obj, _, err = decoder.Decode(doc, nil, nil)
				require.NoError(t, err, "%s is not a valid %s %s:\n%s", name, head.APIVersion, head.Kind, doc)
			}
			out = append(out, o)
		}
	}
	return out
}

// checkServiceMonitor checks the fields of the Prometheus Operator's CRD that the chart writes
// (its types are not in client-go).
func checkServiceMonitor(t *testing.T, doc []byte) {
	t.Helper()
	var sm struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       struct {
			Selector  map[string]any `json:"selector"`
			Endpoints []struct {
				Port      string         `json:"port"`
				Path      string         `json:"path"`
				Interval  string         `json:"interval"`
				Scheme    string         `json:"scheme"`
				TLSConfig map[string]any `json:"tlsConfig"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	require.NoError(t, sigsyaml.UnmarshalStrict(doc, &sm), "ServiceMonitor:\n%s", doc)
	require.Len(t, sm.Spec.Endpoints, 1)
	require.Contains(t, []string{"http", "https"}, sm.Spec.Endpoints[0].Scheme)
}

func find[T runtime.Object](objs []object, kind, name string) T {
	var zero T
	for _, o := range objs {
		if o.kind == kind && o.name == name {
			return o.obj.(T)
		}
	}
	return zero
}

func TestChart_LintsClean(t *testing.T) {
	kv, err := common.ParseKubeVersion(kubeVersion)
	require.NoError(t, err)
	for _, file := range []string{production, testEnv} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			res := lint.RunAll(chartDir, valuesOf(t, file), "dsop", lint.WithKubeVersion(kv))
			for _, m := range res.Messages {
				require.Less(t, m.Severity, support.WarningSev, "%s", m)
			}
		})
	}
}

// Production renders nothing until every Secret it needs is named, TLS is on and the addresses
// are https; each refusal names the value to fix. The full production values render (the first
// row), so each refusal is caused by the one value it removes.
func TestChart_ProductionFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		set  string
		want string // "" = renders
	}{
		{"", ""},
		{"secrets.server.name=", "secrets.server.name"},
		{"secrets.database.name=", "secrets.database.name"},
		{"secrets.tls.name=", "secrets.tls.name"},
		{"secrets.konkursvarsel.name=", "secrets.konkursvarsel.name"},
		{"settings.DSOP_BASE_URL=", "settings.DSOP_BASE_URL"},
		{"settings.DSOP_BASE_URL=http://api.bank.no/dsop/v2", "settings.DSOP_BASE_URL"},
		{"console.url=http://dsop-console.bank.no", "console.url"},
		{"console.url=", "console.url"},
		{"console.oidcIssuer=", "console.oidcIssuer"},
		{"console.oidcClientID=", "console.oidcClientID"},
		{"networkPolicy.api=null", "networkPolicy.api"},
		{"importJob.volume=null", "importJob.volume"},
		{"probes.readiness.timeoutSeconds=1", "timeoutSeconds"},
		{"settings.DSOP_SECRET_FILE=/tmp/secret", "DSOP_SECRET_FILE"},
		{"image.digest=latest", "digest"},
		{"env=staging", "env"},
		{"settings.DSOP_PAGE_SIZE=2000", ""}, // a number in values is a setting's value too
	} {
		t.Run(tc.set, func(t *testing.T) {
			var sets []string
			if tc.set != "" {
				sets = append(sets, tc.set)
			}
			_, err := render(valuesOf(t, production, sets...))
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	// The chart's own defaults are production without any Secret: they render nothing.
	_, err := render(valuesOf(t, ""))
	require.ErrorContains(t, err, "secrets.database.name")
	// A test environment needs no TLS and no console, but the same shared Secrets.
	_, err = render(valuesOf(t, testEnv))
	require.NoError(t, err)
}

// No Secret is ever rendered: their content never passes through values (issue #27).
func TestChart_RendersNoSecret(t *testing.T) {
	for _, file := range []string{production, testEnv} {
		for _, o := range objects(t, valuesOf(t, file)) {
			require.NotEqual(t, "Secret", o.kind, o.file)
			require.NotContains(t, string(o.raw), "stringData")
		}
	}
}

// Every listener has TLS in production, and the probes wait longer than the slowest readiness check.
func TestChart_ProbesAndTLS(t *testing.T) {
	objs := objects(t, valuesOf(t, production))
	d := find[*appsv1.Deployment](objs, "Deployment", "dsop-bank")
	require.NotNil(t, d)
	c := d.Spec.Template.Spec.Containers[0]
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		require.NotNil(t, p, name)
		require.Greater(t, float64(p.TimeoutSeconds), admin.CheckTimeout.Seconds(), name)
		require.Equal(t, corev1.URISchemeHTTPS, p.HTTPGet.Scheme, name)
	}
	env := envOf(c)
	require.Equal(t, "/run/secrets/tls/tls.crt", env["DSOP_TLS_CERT"])
	require.Equal(t, "/run/secrets/tls/ca.crt", env["DSOP_TLS_CLIENT_CA"])
	require.NotEmpty(t, env["DSOP_CONSOLE_ADDR"], "the console listens in the same pods")
	var ports []string
	for _, p := range c.Ports {
		ports = append(ports, p.Name)
	}
	require.ElementsMatch(t, []string{"api", "admin", "console"}, ports)
	for _, svc := range []string{"dsop-bank", "dsop-bank-admin", "dsop-bank-console"} {
		s := find[*corev1.Service](objs, "Service", svc)
		require.NotNil(t, s, svc)
		require.Equal(t, "https", *s.Spec.Ports[0].AppProtocol, svc)
	}
	require.Equal(t, "registry.bank.no/dsop-bank:0.2.0", c.Image)
	digest := "sha256:" + strings.Repeat("ab", 32)
	d = find[*appsv1.Deployment](objects(t, valuesOf(t, production, "image.digest="+digest)), "Deployment", "dsop-bank")
	require.Equal(t, "registry.bank.no/dsop-bank@"+digest, d.Spec.Template.Spec.Containers[0].Image)
}

// The migrate hook, the import and the anomalies Jobs run the right command as the right role.
func TestChart_Jobs(t *testing.T) {
	objs := objects(t, valuesOf(t, production))
	migrate := find[*batchv1.Job](objs, "Job", "dsop-bank-migrate")
	require.NotNil(t, migrate)
	require.Equal(t, "pre-install,pre-upgrade", migrate.Annotations["helm.sh/hook"])
	require.Equal(t, []string{"migrate"}, migrate.Spec.Template.Spec.Containers[0].Args)
	require.Equal(t, "owner-url", migrate.Spec.Template.Spec.Containers[0].Env[slices.IndexFunc(migrate.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "DSOP_DATABASE_URL" })].ValueFrom.SecretKeyRef.Key)
	require.Empty(t, migrate.Spec.Template.Spec.ServiceAccountName, "a pre-install hook runs before the release's ServiceAccount exists")

	imp := find[*batchv1.CronJob](objs, "CronJob", "dsop-bank-import")
	require.NotNil(t, imp)
	require.Equal(t, batchv1.ForbidConcurrent, imp.Spec.ConcurrencyPolicy)
	ic := imp.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	require.Equal(t, []string{"import", "--bank-data", "/bank-data/bank.json", "--max-rate", "0"}, ic.Args)
	require.Contains(t, ic.VolumeMounts, corev1.VolumeMount{Name: "bank-data", MountPath: "/bank-data", ReadOnly: true})

	an := find[*batchv1.CronJob](objs, "CronJob", "dsop-bank-anomalies")
	require.NotNil(t, an)
	require.Equal(t, []string{"audit", "anomalies"}, an.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args)
}

// Every container's environment is one the server's configuration accepts: the chart names only
// settings that exist, and production's rules (https, TLS files, secret file modes) hold for it.
func TestChart_EveryContainerHasAConfigurationTheServerAccepts(t *testing.T) {
	known := config.Names()
	for _, file := range []string{production, testEnv} {
		for _, o := range objects(t, valuesOf(t, file)) {
			var spec *corev1.PodSpec
			switch v := o.obj.(type) {
			case *appsv1.Deployment:
				spec = &v.Spec.Template.Spec
			case *batchv1.Job:
				spec = &v.Spec.Template.Spec
			case *batchv1.CronJob:
				spec = &v.Spec.JobTemplate.Spec.Template.Spec
			default:
				continue
			}
			t.Run(filepath.Base(file)+"/"+o.name, func(t *testing.T) {
				c := spec.Containers[0]
				env := envOf(c)
				for name := range env {
					if strings.HasPrefix(name, "DSOP_") {
						require.True(t, slices.Contains(known, name), "%s names %s, which is not a setting of the server", o.name, name)
					}
				}
				getenv := mountedFiles(t, spec, c, env)
				_, err := config.Load(nil, getenv)
				require.NoError(t, err)
			})
		}
	}
}

func envOf(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "postgres://role-of-" + e.ValueFrom.SecretKeyRef.Key + "@db.bank.no/dsop?sslmode=verify-full"
		default:
			env[e.Name] = e.Value
		}
	}
	return env
}

// mountedFiles stands in for the Secrets the pod mounts: each file a setting names under a mount
// of the container is made in a temporary directory, as the kubelet would (mode 0440).
func mountedFiles(t *testing.T, spec *corev1.PodSpec, c corev1.Container, env map[string]string) func(string) string {
	t.Helper()
	root := t.TempDir()
	secretMounts := map[string]bool{}
	for _, m := range c.VolumeMounts {
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				secretMounts[m.MountPath] = true
				require.Equal(t, int32(0o440), *v.Secret.DefaultMode, v.Name)
			}
		}
	}
	for name, v := range env {
		for mount := range secretMounts {
			if strings.HasPrefix(v, mount+"/") {
				p := filepath.Join(root, v)
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o750))
				require.NoError(t, os.WriteFile(p, []byte(rand.Text()+rand.Text()), 0o440))
				env[name] = p
			}
		}
	}
	env["DSOP_STATE_DIR"] = filepath.Join(root, "state")
	return func(k string) string { return env[k] }
}

// The production rendering as a reviewer reads it (golden; rewrite with go test -update).
func TestChart_ProductionGolden(t *testing.T) {
	var b bytes.Buffer
	for _, o := range objects(t, valuesOf(t, production)) {
		b.WriteString("# " + o.file + "\n---\n")
		b.Write(o.raw)
	}
	golden := filepath.Join("testdata", "production.golden.yaml")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, b.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), b.String())
}
