// Package cloud sets up the cloud side of KubeEdge on this machine: `keadm
// init` (upstream's binary-mode `keadm deprecated init`) and `keadm gettoken`.
//
// Init (Run) is a list of phases run by the shared phases.Runner, each idempotent
// and reporting what it created, updated or kept:
//
//	preflight  the API server answers, ports are free, paths are writable,
//	           the cloudcore binary is there
//	certs      the CA settled through the kubeedge/casecret secret (the same
//	           logic cloudcore runs at start), the CA and server key pairs
//	           written under <etc>/ca and <etc>/certs
//	crds       the KubeEdge CRDs created or updated, and Established
//	token      a join token in kubeedge/tokensecret, so gettoken works at once
//	config     <etc>/config/cloudcore.yaml written or completed
//	install    the cloudcore binary copied to <bin>/cloudcore
//	start      cloudcore installed and started as a service
//	wait       cloudcore serves /ca.crt and accepts websocket connections
//
// Everything init touches goes through Deps: a Kubernetes client, a dynamic
// client for the CRDs, a service manager, a Disk that says where files are
// really written and a Waiter. A dry run (NewDeps with DryRun) swaps them for
// fakes: an empty fake cluster, a service manager that only records, files
// redirected to a temporary directory and a waiter that only says what it
// would wait for. The phases have no dry-run branches.
package cloud
