package eventbus

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
)

// Defaults of edgecore.yaml modules.eventBus.
const (
	DefaultInternalServer   = "tcp://127.0.0.1:1884"
	DefaultExternalServer   = "tcp://127.0.0.1:1883"
	DefaultSessionQueueSize = 100
	// DefaultHandlerQueueSize bounds the messages waiting for the Handler.
	DefaultHandlerQueueSize = 1024
)

// Config is modules.eventBus of edgecore.yaml plus the node name. TLS
// (eventBusTLS) is not supported.
type Config struct {
	// Mode selects the brokers: internal (0), both (1) or external (2).
	Mode v1alpha2.MqttMode
	// InternalServer is the URL the internal broker listens on
	// (mqttServerInternal). Default DefaultInternalServer.
	InternalServer string
	// ExternalServer is the URL of the external broker (mqttServerExternal).
	// Default DefaultExternalServer.
	ExternalServer string
	// QoS and Retain apply to what EventBus publishes into the internal
	// broker (mqttQOS, mqttRetain). The external broker always gets QoS 1,
	// retain false.
	QoS    int
	Retain bool
	// SessionQueueSize bounds the messages the internal broker queues for
	// each client (mqttSessionQueueSize). Default DefaultSessionQueueSize.
	SessionQueueSize int
	// PubClientID and SubClientID name the external clients; random when
	// empty (mqttPubClientID, mqttSubClientID).
	PubClientID, SubClientID string
	// Username and Password authenticate to the external broker.
	Username, Password string
	// NodeName is the edge node's name (for the authInfo result topic).
	NodeName string
	// HandlerQueueSize bounds the messages waiting for the Handler; more are
	// dropped and counted. Default DefaultHandlerQueueSize.
	HandlerQueueSize int
}

// FromEdgeCore converts edgecore.yaml's modules.eventBus.
func FromEdgeCore(c v1alpha2.EventBus, nodeName string) Config {
	return Config{
		Mode:             c.MqttMode,
		InternalServer:   c.MqttServerInternal,
		ExternalServer:   c.MqttServerExternal,
		QoS:              int(c.MqttQOS),
		Retain:           c.MqttRetain,
		SessionQueueSize: int(c.MqttSessionQueueSize),
		PubClientID:      c.MqttPubClientID,
		SubClientID:      c.MqttSubClientID,
		Username:         c.MqttUsername,
		Password:         c.MqttPassword,
		NodeName:         nodeName,
	}
}

// usesInternal and usesExternal say which brokers the mode selects.
func (c Config) usesInternal() bool {
	return c.Mode == v1alpha2.MqttModeInternal || c.Mode == v1alpha2.MqttModeBoth
}

func (c Config) usesExternal() bool {
	return c.Mode == v1alpha2.MqttModeExternal || c.Mode == v1alpha2.MqttModeBoth
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.InternalServer == "" {
		c.InternalServer = DefaultInternalServer
	}
	if c.ExternalServer == "" {
		c.ExternalServer = DefaultExternalServer
	}
	if c.SessionQueueSize <= 0 {
		c.SessionQueueSize = DefaultSessionQueueSize
	}
	if c.HandlerQueueSize <= 0 {
		c.HandlerQueueSize = DefaultHandlerQueueSize
	}
	if c.PubClientID == "" {
		c.PubClientID = "eventbus-pub-" + randomSuffix()
	}
	if c.SubClientID == "" {
		c.SubClientID = "eventbus-sub-" + randomSuffix()
	}
	return c
}

// Validate reports every invalid field, named as in edgecore.yaml.
func (c Config) Validate() error {
	var errs []error
	switch c.Mode {
	case v1alpha2.MqttModeInternal, v1alpha2.MqttModeBoth, v1alpha2.MqttModeExternal:
	default:
		errs = append(errs, fmt.Errorf("modules.eventBus.mqttMode: %d is not 0 (internal), 1 (both) or 2 (external)", int32(c.Mode)))
	}
	if c.QoS < 0 || c.QoS > 2 {
		errs = append(errs, fmt.Errorf("modules.eventBus.mqttQOS: %d is not 0, 1 or 2", c.QoS))
	}
	if c.usesInternal() {
		if _, err := listenAddress(c.InternalServer); err != nil {
			errs = append(errs, fmt.Errorf("modules.eventBus.mqttServerInternal: %w", err))
		}
	}
	if c.usesExternal() {
		if _, err := listenAddress(c.ExternalServer); err != nil {
			errs = append(errs, fmt.Errorf("modules.eventBus.mqttServerExternal: %w", err))
		}
	}
	return errors.Join(errs...)
}

// listenAddress turns a broker URL (tcp://host:port) into host:port.
func listenAddress(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt":
	default:
		return "", fmt.Errorf("%q: scheme must be tcp:// (TLS is not supported)", raw)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || port == "" {
		return "", fmt.Errorf("%q: want tcp://host:port", raw)
	}
	return net.JoinHostPort(host, port), nil
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}
