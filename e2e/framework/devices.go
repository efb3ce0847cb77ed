package framework

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	devv1 "github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
	"github.com/cleanedge/kubeedge/components/apis/edgecore/v1alpha2"
	"github.com/cleanedge/kubeedge/keadm/layout"
)

// The sample device: a virtual thermometer with a settable switch, served
// by the project's mapper image (e2e/images/mapper).
const (
	ThermometerModel = `apiVersion: devices.kubeedge.io/v1alpha2
kind: DeviceModel
metadata: {name: thermometer, namespace: default}
spec:
  protocol: virtual
  properties:
  - name: temperature
    description: degrees Celsius
    type: {float: {accessMode: ReadOnly}}
  - name: switch
    description: on or off
    type: {string: {accessMode: ReadWrite, defaultValue: "off"}}
`
	thermometerDevice = `apiVersion: devices.kubeedge.io/v1alpha2
kind: Device
metadata: {name: %s, namespace: default, labels: {description: thermometer}}
spec:
  deviceModelRef: {name: thermometer}
  protocol:
    customizedProtocol: {protocolName: virtual}
  nodeSelector:
    nodeSelectorTerms:
    - matchExpressions:
      - {key: "", operator: In, values: [%s]}
status:
  twins:
  - propertyName: switch
    desired: {value: "on", metadata: {type: string}}
    reported: {value: ""}
  - propertyName: temperature
    desired: {value: "", metadata: {type: float}}
    reported: {value: ""}
`
)

// Device and model resources.
var (
	DevicesGVR = devv1.SchemeGroupVersion.WithResource("devices")
	ModelsGVR  = devv1.SchemeGroupVersion.WithResource("devicemodels")
)

// ThermometerDevice is the sample Device bound to node.
func ThermometerDevice(name, node string) string { return fmt.Sprintf(thermometerDevice, name, node) }

// CreateYAML creates one object from YAML through the dynamic client.
func CreateYAML(ctx context.Context, dyn dynamic.Interface, doc string) error {
	var u unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		return err
	}
	gvr := DevicesGVR
	if u.GetKind() == "DeviceModel" {
		gvr = ModelsGVR
	}
	if _, err := dyn.Resource(gvr).Namespace(u.GetNamespace()).Create(ctx, &u, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}

// MapperPod runs the sample mapper for device on node, talking to broker.
func MapperPod(name, node, device, broker string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "mapper"}},
		Spec: corev1.PodSpec{
			NodeName: node, HostNetwork: true, AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{
				Name: "mapper", Image: "localhost/kubeedge/mapper:v1", ImagePullPolicy: corev1.PullNever,
				Env: []corev1.EnvVar{{Name: "MQTT_BROKER", Value: broker}, {Name: "DEVICE_ID", Value: device},
					{Name: "NODE_NAME", Value: node}, {Name: "REPORT_INTERVAL", Value: "1s"}},
			}},
		},
	}
}

// EditEdgeConfig rewrites the edgecore.yaml of the node installed under
// root; restart edgecore (a re-run of keadm join keeps the settings) for it
// to take effect.
func EditEdgeConfig(root string, edit func(*v1alpha2.EdgeCore)) error {
	path := layout.Under(root).EdgeCoreConfig()
	cfg, err := v1alpha2.Load(path)
	if err != nil {
		return err
	}
	edit(cfg)
	data, err := cfg.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}
