package v1alpha2

import (
	"encoding/json"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

const sampleDevice = `
apiVersion: devices.kubeedge.io/v1alpha2
kind: Device
metadata:
  name: thermo-1
  namespace: default
  labels: {site: a}
spec:
  deviceModelRef: {name: thermometer}
  protocol:
    modbus: {slaveID: 1}
    common:
      tcp: {ip: 127.0.0.1, port: 502}
  propertyVisitors:
  - propertyName: temperature
    modbus: {register: HoldingRegister, offset: 2, limit: 1}
  nodeSelector:
    nodeSelectorTerms:
    - matchExpressions:
      - {key: "", operator: In, values: [edge-1]}
status:
  twins:
  - propertyName: temperature
    desired: {value: "20", metadata: {type: int}}
    reported: {value: "19", metadata: {type: int}}
`

// A deep copy equals the original and shares nothing with it.
func TestDeviceDeepCopy(t *testing.T) {
	var d Device
	if err := yaml.UnmarshalStrict([]byte(sampleDevice), &d); err != nil {
		t.Fatal(err)
	}
	c := d.DeepCopy()
	if !reflect.DeepEqual(&d, c) {
		t.Fatalf("copy differs:\n%+v\n%+v", d, *c)
	}
	orig, _ := json.Marshal(&d)
	c.Labels["site"] = "b"
	c.Spec.PropertyVisitors[0].PropertyName = "changed"
	c.Spec.NodeSelector.NodeSelectorTerms[0].MatchExpressions[0].Values[0] = "edge-2"
	c.Status.Twins[0].Reported.Value = "99"
	*c.Spec.Protocol.Modbus.SlaveID = 7
	after, _ := json.Marshal(&d)
	if string(orig) != string(after) {
		t.Fatalf("changing the copy changed the original:\n%s\n%s", orig, after)
	}
	if _, ok := c.DeepCopyObject().(*Device); !ok {
		t.Fatal("DeepCopyObject is not a *Device")
	}
}
