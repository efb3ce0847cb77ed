// Package certs is the PKI of the cloud–edge link, declared as data.
//
// It covers, wire-compatible with KubeEdge v1.12:
//
//   - the CloudHub CA (self-signed, ECDSA P-256, serial 1024, 100 years),
//   - the CloudCore server certificate (serverAuth, SANs from the advertise
//     addresses and DNS names),
//   - edge certificates signed from a PKCS#10 CSR, with the node name bound
//     into the subject CommonName (upstream copies the CSR's CN instead),
//   - the join token "<caHash>.<jwt>", an HS256 JWT keyed with the CA key DER,
//   - the Kubernetes secrets (namespace "kubeedge") that are the single
//     source of truth for the CA, the server key pair and the current token,
//   - a token refresher that keeps retrying when saving fails.
//
// Keys are ECDSA P-256 and stored as PEM "EC PRIVATE KEY" (SEC1) in files and
// as raw DER in secrets; certificates are PEM "CERTIFICATE" in files and raw
// DER in secrets. Time is always passed in, so callers and tests control the
// clock. Errors are sentinels or typed values usable with errors.Is and
// errors.As; no error message ever contains a token.
package certs
