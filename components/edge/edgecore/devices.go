package edgecore

import (
	"context"
	"errors"

	"github.com/go-logr/logr"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/components/edge/devicetwin"
	"github.com/cleanedge/kubeedge/components/edge/edgehub"
	"github.com/cleanedge/kubeedge/components/edge/eventbus"
	"github.com/cleanedge/kubeedge/components/edge/metamanager"
	"github.com/cleanedge/kubeedge/components/edge/metamanager/metaserver"
	"github.com/cleanedge/kubeedge/components/host"
	"github.com/cleanedge/kubeedge/components/message"
)

// deviceModules builds EventBus, DeviceTwin and the edge-local API
// (metaServer), as enabled, and hooks them to the dispatcher.
//
//	mapper ⇄ MQTT ⇄ EventBus ─ twin topics ─▶ DeviceTwin ─ outbox ─▶ cloud
//	                          └ other topics ─▶ cloud (upload)
//	cloud ─ device objects ─▶ MetaManager ─ events ─▶ DeviceTwin ─▶ MQTT
func deviceModules(cfg *v1alpha2.EdgeCore, meta *metamanager.MetaManager, hub *edgehub.Hub, d *dispatcher, log logr.Logger) ([]host.Module, error) {
	m := cfg.Modules
	node := m.Edged.HostnameOverride
	var mods []host.Module
	route := &mqttRoute{hub: hub, log: log.WithName("eventbus")}
	if m.EventBus.Enable {
		bus, err := eventbus.New(eventbus.FromEdgeCore(m.EventBus, node), route, log.WithName("eventbus"))
		if err != nil {
			return nil, err
		}
		d.bus = bus
		mods = append(mods, bus)
	}
	if m.DeviceTwin.Enable {
		var pub devicetwin.Publisher = noBroker{}
		if d.bus != nil {
			pub = d.bus
		}
		twin := devicetwin.New(devicetwin.Config{NodeName: node}, meta.Store(), pub, meta, log.WithName("devicetwin"))
		d.twin, route.twin = twin, twin
		events := meta.Subscribe(message.ResDevice, 256)
		mods = append(mods, twin, host.Func("devicetwin-events", func(ctx context.Context) error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case ev := <-events:
					twin.HandleDeviceEvent(ev)
				}
			}
		}))
	}
	if ms := m.MetaManager.MetaServer; ms.Enable {
		srv := metaserver.New(metaserver.Config{Addr: ms.Server}, meta, log.WithName("metaserver"))
		if d.twin != nil {
			srv.Handle(devicetwin.HTTPPrefix, d.twin.HTTPHandler())
		}
		mods = append(mods, srv)
	}
	return mods, nil
}

// mqttRoute sends twin topics to DeviceTwin and everything else to the
// cloud as upstream's "upload" messages.
type mqttRoute struct {
	twin *devicetwin.DeviceTwin
	hub  *edgehub.Hub
	log  logr.Logger
}

func (r *mqttRoute) HandleMQTT(topic string, payload []byte) {
	if devicetwin.IsTwinTopic(topic) {
		if r.twin != nil {
			r.twin.HandleMQTT(topic, payload)
		}
		return
	}
	m, err := eventbus.UploadMessage(message.DefaultFactory, topic, payload)
	if err != nil {
		r.log.Info("dropped an MQTT message that cannot be forwarded", "topic", topic, "err", err)
		return
	}
	if err := r.hub.Send(m); err != nil {
		r.log.V(1).Info("MQTT upload not sent", "topic", topic, "err", err)
	}
}

// noBroker is DeviceTwin's publisher when EventBus is disabled.
type noBroker struct{}

func (noBroker) Publish(string, []byte) error { return errNoBroker }

var errNoBroker = errors.New("eventBus is disabled (modules.eventBus.enable): no MQTT broker to publish to")
