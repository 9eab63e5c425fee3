// Package helm holds the tests of Vigil's Helm chart (helm/vigil). They render
// the chart in-process with the Helm SDK for the default values and every
// file in helm/vigil/ci, decode each manifest strictly into its Kubernetes
// API type, compare the output with golden files (-update rewrites them),
// check every pod's security settings and probes, check the values schema,
// run each rendered component configuration through `vigil <component>
// --config F --check`, and run `helm lint`. No cluster is needed.
package helm
