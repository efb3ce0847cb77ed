package edgecore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/components/edge/edged"
	"github.com/cleanedge/kubeedge/components/edge/edged/runtime"
	"github.com/cleanedge/kubeedge/components/edge/edgehub"
	"github.com/cleanedge/kubeedge/components/edge/metamanager"
	"github.com/cleanedge/kubeedge/components/message"
)

// edgedModule connects to the container runtime inside Run, so that a
// runtime that is not up yet is retried by the module host with backoff
// instead of keeping edgecore (and the node's link) down.
type edgedModule struct {
	// version is the runtime's "<name>://<version>" once connected, for the
	// node status.
	version atomic.Value
	cfg     edged.Config
	socket  string
	meta    *metamanager.MetaManager
	sender  edged.Sender
	log     logr.Logger
}

func newEdgedModule(cfg *v1alpha2.EdgeCore, meta *metamanager.MetaManager, hub *edgehub.Hub, log logr.Logger) *edgedModule {
	e := cfg.Modules.Edged
	return &edgedModule{
		// Pod status and deletes go through meta.db's outbox: kept while
		// offline, sent in order, never lost in flight.
		sender: metamanager.ReliableSender{Meta: meta},
		cfg: edged.Config{
			Tokens:        cloudTokens{hub},
			NodeName:      e.HostnameOverride,
			NodeIP:        e.NodeIP,
			RootDirectory: e.RootDirectory,
			// kubelet's /var/log/pods beside /var/lib/edged, under the same root.
			PodLogsRoot: filepath.Join(filepath.Dir(filepath.Dir(e.RootDirectory)), "log", "pods"),
		},
		socket: e.RemoteRuntimeEndpoint,
		meta:   meta,
		log:    log,
	}
}

func (m *edgedModule) Name() string { return "edged" }

// RuntimeVersion is the connected runtime as nodeInfo reports it.
func (m *edgedModule) RuntimeVersion() string {
	v, _ := m.version.Load().(string)
	return v
}

func (m *edgedModule) Run(ctx context.Context) error {
	rt, err := runtime.Dial(ctx, m.socket)
	if err != nil {
		return fmt.Errorf("container runtime at %s (edged.remoteRuntimeEndpoint): %w", m.socket, err)
	}
	defer rt.Close()
	m.log.Info("container runtime connected", "endpoint", m.socket, "runtime", rt.Name, "version", rt.Version)
	m.version.Store(rt.Name + "://" + rt.Version)
	defer m.version.Store("")
	return edged.New(m.cfg, rt, m.meta, m.sender, m.log).Run(ctx)
}

// cloudTokens asks the cloud for service account tokens with upstream's
// message: query <ns>/serviceaccounttoken/<sa> carrying a TokenRequest, whose
// reply is the TokenRequest with its status filled.
type cloudTokens struct{ hub *edgehub.Hub }

func (c cloudTokens) ServiceAccountToken(ctx context.Context, namespace, sa string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	m, err := message.New(message.Route{Source: message.SourceEdged, Group: message.GroupMeta, Operation: message.OpQuery,
		Resource: message.Resource{Namespace: namespace, Type: message.ResServiceAccountToken, Name: sa}.String()}, req)
	if err != nil {
		return nil, err
	}
	reply, err := c.hub.Request(ctx, m)
	if err != nil {
		return nil, err
	}
	var out authenticationv1.TokenRequest
	if err := reply.DecodeContent(&out); err != nil {
		return nil, err
	}
	return &out, nil
}
