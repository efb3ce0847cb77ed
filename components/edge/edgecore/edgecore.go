// Package edgecore assembles the edge daemon from its configuration: the
// certificate bootstrap, meta.db, MetaManager, EdgeHub and the node status
// reporter, run by the module host.
package edgecore

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/components/atomicfile"
	"github.com/cleanedge/kubeedge/components/edge/devicetwin"
	"github.com/cleanedge/kubeedge/components/edge/edgehub"
	"github.com/cleanedge/kubeedge/components/edge/eventbus"
	"github.com/cleanedge/kubeedge/components/edge/metamanager"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/store"
	"github.com/cleanedge/kubeedge/components/edge/nodestatus"
	"github.com/cleanedge/kubeedge/components/host"
	"github.com/cleanedge/kubeedge/components/message"
)

// HubConfig maps edgecore.yaml's edgeHub section onto EdgeHub's config.
func HubConfig(cfg *v1alpha2.EdgeCore) edgehub.Config {
	eh := cfg.Modules.EdgeHub
	return edgehub.Config{
		Server:             eh.WebSocket.Server,
		HTTPServer:         eh.HTTPServer,
		ProjectID:          eh.ProjectID,
		NodeName:           cfg.Modules.Edged.HostnameOverride,
		CAFile:             eh.TLSCAFile,
		CertFile:           eh.TLSCertFile,
		KeyFile:            eh.TLSPrivateKeyFile,
		Token:              eh.Token,
		Heartbeat:          time.Duration(eh.Heartbeat) * time.Second,
		HandshakeTimeout:   time.Duration(eh.WebSocket.HandshakeTimeout) * time.Second,
		WriteTimeout:       time.Duration(eh.WebSocket.WriteDeadline) * time.Second,
		RotateCertificates: eh.RotateCertificates,
	}
}

// Run starts edgecore and blocks until ctx ends.
func Run(ctx context.Context, cfg *v1alpha2.EdgeCore, log logr.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid edgecore configuration: %w", err)
	}
	hubCfg := HubConfig(cfg)
	if err := edgehub.EnsureCertificate(ctx, hubCfg); err != nil {
		return err
	}
	db, err := store.Open(cfg.Modules.MetaManager.DBPath, store.Options{Logger: log.WithName("store")})
	if err != nil {
		return err
	}
	defer db.Close()
	edged := cfg.Modules.Edged
	d := &dispatcher{log: log.WithName("dispatch"), status: StatusFile(cfg), node: edged.HostnameOverride, server: hubCfg.Server}
	d.Disconnected() // a stale "connected" from a previous run must not fool keadm join
	hub := edgehub.New(hubCfg, d, log.WithName("edgehub"))
	meta := metamanager.New(db, hub, log.WithName("metamanager"))
	d.meta = meta
	d.reconcile = func() { meta.Reconcile(ctx, hub) }
	h := host.New(host.Options{Logger: log.WithName("host")})
	var runtimeVersion func() string
	var edgedMod *edgedModule
	if edged.Enable {
		edgedMod = newEdgedModule(cfg, meta, hub, log.WithName("edged"))
		runtimeVersion = edgedMod.RuntimeVersion
	}
	reporter := nodestatus.New(nodestatus.Config{
		NodeName:        edged.HostnameOverride,
		Namespace:       edged.RegisterNodeNamespace,
		Labels:          edged.NodeLabels,
		NodeIP:          edged.NodeIP,
		UpdateFrequency: edged.TailoredKubeletConfig.NodeStatusUpdateFrequency.Duration,
		MaxPods:         int(edged.TailoredKubeletConfig.MaxPods),
		RuntimeVersion:  runtimeVersion,
	}, hub, log.WithName("nodestatus"))

	mods := []host.Module{meta, &adminServer{path: AdminSocket(cfg), db: db, log: log.WithName("admin")}, hub, reporter}
	if edgedMod != nil {
		mods = append(mods, edgedMod)
	}
	devMods, err := deviceModules(cfg, meta, hub, d, log)
	if err != nil {
		return err
	}
	mods = append(mods, devMods...)
	if err := h.Add(mods...); err != nil {
		return err
	}
	log.Info("edgecore starting", "node", edged.HostnameOverride, "cloud", hubCfg.Server)
	return h.Run(ctx)
}

// StatusFile is where edgecore reports its link state for keadm join and
// diagnostics: edgecore.status beside meta.db.
func StatusFile(cfg *v1alpha2.EdgeCore) string {
	return filepath.Join(filepath.Dir(cfg.Modules.MetaManager.DBPath), "edgecore.status")
}

// LinkStatus is the content of the status file.
type LinkStatus struct {
	Node      string    `json:"node"`
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since"`
	Server    string    `json:"server"`
}

// dispatcher routes what the cloud sends to the edge modules: objects to
// MetaManager (which persists, acks and announces them), twin messages to
// DeviceTwin, user messages to EventBus; the rest is logged.
type dispatcher struct {
	log                  logr.Logger
	status, node, server string
	meta                 *metamanager.MetaManager
	twin                 *devicetwin.DeviceTwin
	bus                  *eventbus.Bus
	// reconcile runs after each connect (in its own goroutine).
	reconcile func()
}

func (d *dispatcher) HandleMessage(m message.Message) {
	if d.meta != nil && d.meta.HandleCloudMessage(m) {
		return
	}
	if d.twin != nil && d.twin.HandleCloudMessage(m) {
		return
	}
	if d.bus != nil && d.bus.HandleCloudMessage(m) {
		return
	}
	d.log.V(1).Info("message from the cloud not handled", "operation", m.Route.Operation, "resource", m.Route.Resource)
}

func (d *dispatcher) Connected() {
	d.writeStatus(true)
	if d.meta != nil {
		d.meta.SetConnected(true)
	}
	if d.reconcile != nil {
		go d.reconcile()
	}
}
func (d *dispatcher) Disconnected() {
	if d.meta != nil {
		d.meta.SetConnected(false)
	}
	d.writeStatus(false)
}

func (d *dispatcher) writeStatus(connected bool) {
	b, _ := json.Marshal(LinkStatus{Node: d.node, Connected: connected, Since: time.Now().UTC(), Server: d.server})
	if err := atomicfile.Write(d.status, b, 0o644, 0o700); err != nil {
		d.log.Info("cannot write the status file", "path", d.status, "err", err)
	}
}
