// Package framework starts the real parts the end-to-end tests run against:
// etcd and the Kubernetes control plane (kube-apiserver, and optionally
// kube-controller-manager and kube-scheduler), and containerd with CNI. Each
// runs as a child process on loopback, on free ports, in its own directory,
// with its output in a log file.
//
// The plain API (StartControlPlane, StartContainerd) takes a context and
// returns errors; it is used by the tests and by `make run`. The *ForTest
// helpers wrap it for testing.T: they stop everything in t.Cleanup, keep the
// logs of a failed test (and print where), and fail, never skip, when a real
// part is missing, naming the make target that installs it.
//
// Ctrl-C (SIGINT) or SIGTERM of the test binary stops every process started
// through this package before the binary dies; children also get SIGKILL from
// the kernel if the test binary is killed outright (Pdeathsig).
package framework
