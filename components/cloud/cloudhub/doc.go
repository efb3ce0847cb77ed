// Package cloudhub terminates the edge nodes' links.
//
// It serves two listeners, as upstream KubeEdge v1.12 does:
//
//   - the websocket server (default :10000): TLS ≥ 1.2 with a required client
//     certificate that chains to the cluster CA. The node's identity is the
//     certificate's common name, which our signer sets to the node name. A
//     connection whose node_id header names another node is refused, and so is
//     any message in which a node claims another node's objects.
//   - the HTTPS server (default :10002): GET /ca.crt hands out the CA
//     certificate (DER); /edge.crt signs an edge certificate from a DER CSR,
//     authorised by a join token (Authorization: Bearer <jwt>) or by a valid
//     client certificate (renewal).
//
// One session per node reads frames, tracks keepalives and writes through a
// bounded queue, so that a slow node never blocks another. Messages go up to a
// Handler as typed values; controllers answer through Hub.Send.
package cloudhub
