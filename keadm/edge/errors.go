package edge

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cleanedge/kubeedge/certs"
	"github.com/cleanedge/kubeedge/components/edge/edgehub"
)

// CertError explains why the node could not get its certificate and how to
// fix it. It wraps the bootstrap error: errors.Is finds edgehub's and
// certs' sentinel errors through it.
type CertError struct {
	// Problem is what went wrong, in the user's terms.
	Problem string
	// Fix is what to do about it.
	Fix string
	// Err is the underlying error.
	Err error
}

func (e *CertError) Error() string {
	cause := e.Err.Error()
	var be *edgehub.BootstrapError
	if errors.As(e.Err, &be) {
		cause = be.Step + ": " + be.Err.Error() // without edgehub's generic fix
	}
	return e.Problem + "\n  cause: " + cause + "\n  fix: " + e.Fix
}

func (e *CertError) Unwrap() error { return e.Err }

// explainBootstrap maps the errors of edgehub.EnsureCertificate to a
// CertError with the fix for the way join was called.
func explainBootstrap(err error, c *JoinConfig) error {
	if err == nil {
		return nil
	}
	certURL := "https://" + c.CertAddress()
	e := &CertError{Err: err}
	msg := err.Error()
	switch {
	case errors.Is(err, certs.ErrCAHashMismatch):
		e.Problem = fmt.Sprintf("the CA certificate served at %s does not match the CA hash in the join token", certURL)
		e.Fix = "the token comes from another cluster, or --cloudcore-ipport/--certport point at another cloudcore: " +
			"get the token of this cluster with `keadm gettoken` on its cloud, or correct the address"
	case errors.Is(err, certs.ErrTokenMalformed):
		e.Problem = "the join token is malformed"
		e.Fix = "pass the whole token printed by `keadm gettoken` on the cloud (<caHash>.<header>.<payload>.<signature>)"
	case errors.Is(err, edgehub.ErrRefused) && strings.Contains(msg, "expired"):
		e.Problem = "cloudcore refused the join token: it has expired (a token is valid for 24 hours)"
		e.Fix = "get a fresh token with `keadm gettoken` on the cloud and re-run keadm join with it"
	case errors.Is(err, edgehub.ErrRefused) && (strings.Contains(msg, "not signed") || strings.Contains(msg, "signature")):
		e.Problem = "cloudcore refused the join token: it was not signed by this cluster's CA"
		e.Fix = "the token comes from another cluster, or the cloud's CA was replaced since it was made: " +
			"get a fresh token with `keadm gettoken` on this cluster's cloud"
	case errors.Is(err, edgehub.ErrRefused):
		e.Problem = "cloudcore refused to sign this node's certificate"
		e.Fix = "read cloudcore's answer above and its log; a fresh token from `keadm gettoken` fixes most refusals"
	case errors.Is(err, edgehub.ErrNameInUse):
		e.Problem = fmt.Sprintf("the node name %q is already used by an edge node connected to cloudcore", c.NodeName)
		e.Fix = "choose another --edgenode-name, or run `keadm reset` on the node using this name first"
	case errors.Is(err, edgehub.ErrServerNameInvalid):
		e.Problem = fmt.Sprintf("cloudcore's certificate does not cover the address %s", c.host())
		e.Fix = fmt.Sprintf("join with an address the certificate covers, or re-run `keadm init` on the cloud with --advertise-address including %s", c.host())
	case errors.Is(err, edgehub.ErrClockSkew):
		e.Problem = "cloudcore's certificate is not valid at this machine's time: the clocks differ"
		e.Fix = "set this machine's clock (enable NTP, e.g. `timedatectl set-ntp true`) and re-run keadm join"
	case errors.Is(err, edgehub.ErrCloudUnreachable):
		e.Problem = fmt.Sprintf("cannot reach cloudcore's certificate server at %s", certURL)
		e.Fix = fmt.Sprintf("check that cloudcore runs and that no firewall or security group blocks TCP port %d, and that --certport is CloudHub's HTTPS port", c.CertPort)
	default:
		return fmt.Errorf("get the node certificate from %s: %w", certURL, err)
	}
	return e
}
