package eventbus

import (
	"log"
	"os"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// PAHO_DEBUG=1 sends paho's own logs to stderr, for debugging reconnects.
func init() {
	if os.Getenv("PAHO_DEBUG") != "" {
		paho.DEBUG = log.New(os.Stderr, "PAHO ", log.Lmicroseconds)
		paho.ERROR = log.New(os.Stderr, "PAHOERR ", log.Lmicroseconds)
		paho.WARN = log.New(os.Stderr, "PAHOWARN ", log.Lmicroseconds)
	}
}
