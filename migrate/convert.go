package migrate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha1"
	"github.com/cleanedge/kubeedge/components/apis/devices/v1alpha2"
)

// Protocol names used for DeviceModel spec.protocol.
const (
	ProtocolModbus    = "modbus"
	ProtocolOpcUA     = "opcua"
	ProtocolBluetooth = "bluetooth"
)

// Modbus commType values written to spec.protocol.common.commType. Upstream
// does not fix these values; they only say which transport the v1alpha1
// object used.
const (
	CommTypeRTU = "rtu"
	CommTypeTCP = "tcp"
)

const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// Problem is something about a converted object a user should check; it does
// not stop the conversion.
type Problem struct {
	Kind      string
	Namespace string
	Name      string
	// Field is the path of the field concerned, e.g. "spec.propertyVisitors".
	Field   string
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s %s: %s: %s", p.Kind, nsName(p.Namespace, p.Name), p.Field, p.Message)
}

// ConvertError says why an object cannot be converted.
type ConvertError struct {
	Kind string
	Name string
	// Field is the path of the offending field, e.g.
	// "spec.protocol.modbus.tcp.slaveID".
	Field  string
	Reason string
}

func (e *ConvertError) Error() string {
	return fmt.Sprintf("cannot convert %s %q: %s: %s", e.Kind, e.Name, e.Field, e.Reason)
}

func nsName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// convertMeta keeps what a user wrote and drops what the API server set.
func convertMeta(in metav1.ObjectMeta) (metav1.ObjectMeta, bool) {
	out := metav1.ObjectMeta{
		Name:         in.Name,
		GenerateName: in.GenerateName,
		Namespace:    in.Namespace,
	}
	if in.Labels != nil {
		out.Labels = make(map[string]string, len(in.Labels))
		for k, v := range in.Labels {
			out.Labels[k] = v
		}
	}
	droppedLastApplied := false
	if in.Annotations != nil {
		out.Annotations = make(map[string]string, len(in.Annotations))
		for k, v := range in.Annotations {
			if k == lastAppliedAnnotation {
				droppedLastApplied = true
				continue
			}
			out.Annotations[k] = v
		}
		if len(out.Annotations) == 0 {
			out.Annotations = nil
		}
	}
	return out, droppedLastApplied
}

// visitorProtocol names the protocol of a v1alpha1 visitor ("" if none).
func visitorProtocols(v v1alpha1.VisitorConfig) []string {
	var ps []string
	if v.Modbus != nil {
		ps = append(ps, ProtocolModbus)
	}
	if v.OpcUA != nil {
		ps = append(ps, ProtocolOpcUA)
	}
	if v.Bluetooth != nil {
		ps = append(ps, ProtocolBluetooth)
	}
	return ps
}

// ConvertDeviceModel converts a v1alpha1 DeviceModel. Its property visitors
// are not part of the result: they belong to the Devices using the model (see
// ConvertDevice).
func ConvertDeviceModel(old *v1alpha1.DeviceModel) (*v1alpha2.DeviceModel, []Problem, error) {
	if old == nil {
		return nil, nil, fmt.Errorf("convert DeviceModel: nil object")
	}
	var problems []Problem
	add := func(field, format string, args ...interface{}) {
		problems = append(problems, Problem{Kind: "DeviceModel", Namespace: old.Namespace, Name: old.Name,
			Field: field, Message: fmt.Sprintf(format, args...)})
	}

	meta, dropped := convertMeta(old.ObjectMeta)
	if dropped {
		add("metadata.annotations", "dropped %s (it describes the v1alpha1 object)", lastAppliedAnnotation)
	}
	out := &v1alpha2.DeviceModel{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha2.SchemeGroupVersion.String(), Kind: "DeviceModel"},
		ObjectMeta: meta,
	}

	names := map[string]bool{}
	for i, p := range old.Spec.Properties {
		np := v1alpha2.DeviceProperty{Name: p.Name, Description: p.Description}
		if p.Type.Int != nil {
			t := p.Type.Int
			np.Type.Int = &v1alpha2.PropertyTypeInt64{
				AccessMode: v1alpha2.PropertyAccessMode(t.AccessMode), DefaultValue: t.DefaultValue,
				Minimum: t.Minimum, Maximum: t.Maximum, Unit: t.Unit,
			}
		}
		if p.Type.String != nil {
			np.Type.String = &v1alpha2.PropertyTypeString{
				AccessMode:   v1alpha2.PropertyAccessMode(p.Type.String.AccessMode),
				DefaultValue: p.Type.String.DefaultValue,
			}
		}
		if p.Type.Int == nil && p.Type.String == nil {
			add(fmt.Sprintf("spec.properties[%d].type", i), "property %q has no type", p.Name)
		}
		names[p.Name] = true
		out.Spec.Properties = append(out.Spec.Properties, np)
	}

	used := map[string]bool{}
	for i, v := range old.Spec.PropertyVisitors {
		for _, p := range visitorProtocols(v.VisitorConfig) {
			used[p] = true
		}
		if !names[v.PropertyName] {
			add(fmt.Sprintf("spec.propertyVisitors[%d].propertyName", i), "visitor for %q, which is not a property of the model", v.PropertyName)
		}
	}
	var protocols []string
	for p := range used {
		protocols = append(protocols, p)
	}
	sort.Strings(protocols)
	switch len(protocols) {
	case 0:
		add("spec.protocol", "left empty: no property visitor names a protocol")
	case 1:
		out.Spec.Protocol = protocols[0]
	default:
		add("spec.protocol", "left empty: property visitors use several protocols (%s)", strings.Join(protocols, ", "))
	}
	if len(old.Spec.PropertyVisitors) > 0 {
		add("spec.propertyVisitors", "%d visitor(s) moved to the Devices using this model", len(old.Spec.PropertyVisitors))
	}
	return out, problems, nil
}

// ConvertDevice converts a v1alpha1 Device. model is the v1alpha1 DeviceModel
// the device references (spec.deviceModelRef); its property visitors are
// copied into the device. With a nil model the device gets no visitors and a
// Problem says so.
func ConvertDevice(old *v1alpha1.Device, model *v1alpha1.DeviceModel) (*v1alpha2.Device, []Problem, error) {
	if old == nil {
		return nil, nil, fmt.Errorf("convert Device: nil object")
	}
	var problems []Problem
	add := func(field, format string, args ...interface{}) {
		problems = append(problems, Problem{Kind: "Device", Namespace: old.Namespace, Name: old.Name,
			Field: field, Message: fmt.Sprintf(format, args...)})
	}
	fail := func(field, format string, args ...interface{}) error {
		return &ConvertError{Kind: "Device", Name: nsName(old.Namespace, old.Name), Field: field, Reason: fmt.Sprintf(format, args...)}
	}

	meta, dropped := convertMeta(old.ObjectMeta)
	if dropped {
		add("metadata.annotations", "dropped %s (it describes the v1alpha1 object)", lastAppliedAnnotation)
	}
	out := &v1alpha2.Device{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha2.SchemeGroupVersion.String(), Kind: "Device"},
		ObjectMeta: meta,
	}

	spec := &out.Spec
	if ref := old.Spec.DeviceModelRef; ref != nil {
		r := *ref
		spec.DeviceModelRef = &r
		if model != nil && model.Name != ref.Name {
			return nil, nil, fail("spec.deviceModelRef.name", "references model %q but model %q was given", ref.Name, model.Name)
		}
	}
	if old.Spec.NodeSelector != nil {
		spec.NodeSelector = old.Spec.NodeSelector.DeepCopy()
	}

	// Protocol.
	proto := old.Spec.Protocol
	var deviceProtocols []string
	if o := proto.OpcUA; o != nil {
		spec.Protocol.OpcUA = &v1alpha2.ProtocolConfigOpcUA{
			URL: o.URL, UserName: o.UserName, Password: o.Password,
			SecurityPolicy: o.SecurityPolicy, SecurityMode: o.SecurityMode,
			Certificate: o.Certificate, PrivateKey: o.PrivateKey, Timeout: o.Timeout,
		}
		deviceProtocols = append(deviceProtocols, ProtocolOpcUA)
	}
	if b := proto.Bluetooth; b != nil {
		spec.Protocol.Bluetooth = &v1alpha2.ProtocolConfigBluetooth{MACAddress: b.MACAddress}
		deviceProtocols = append(deviceProtocols, ProtocolBluetooth)
	}
	if m := proto.Modbus; m != nil {
		deviceProtocols = append(deviceProtocols, ProtocolModbus)
		spec.Protocol.Modbus = &v1alpha2.ProtocolConfigModbus{}
		switch {
		case m.RTU != nil && m.TCP != nil:
			return nil, nil, fail("spec.protocol.modbus", "both rtu and tcp are set; v1alpha2 has room for one transport")
		case m.RTU != nil:
			r := m.RTU
			if r.SlaveID != 0 {
				id := r.SlaveID
				spec.Protocol.Modbus.SlaveID = &id
			} else {
				add("spec.protocol.modbus.slaveID", "not set: rtu.slaveID was missing or 0")
			}
			spec.Protocol.Common = &v1alpha2.ProtocolConfigCommon{
				COM: &v1alpha2.ProtocolConfigCOM{
					SerialPort: r.SerialPort, BaudRate: r.BaudRate, DataBits: r.DataBits,
					Parity: r.Parity, StopBits: r.StopBits,
				},
				CommType: CommTypeRTU,
			}
		case m.TCP != nil:
			t := m.TCP
			if s := strings.TrimSpace(t.SlaveID); s != "" {
				id, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return nil, nil, fail("spec.protocol.modbus.tcp.slaveID", "%q is not an integer", t.SlaveID)
				}
				if id < 0 || id > 255 {
					return nil, nil, fail("spec.protocol.modbus.tcp.slaveID", "%d is not a modbus unit id (0..255)", id)
				}
				spec.Protocol.Modbus.SlaveID = &id
			} else {
				add("spec.protocol.modbus.slaveID", "not set: tcp.slaveID was empty")
			}
			spec.Protocol.Common = &v1alpha2.ProtocolConfigCommon{
				TCP:      &v1alpha2.ProtocolConfigTCP{IP: t.IP, Port: t.Port},
				CommType: CommTypeTCP,
			}
		default:
			add("spec.protocol.modbus", "neither rtu nor tcp is set")
		}
	}
	if len(deviceProtocols) > 1 {
		add("spec.protocol", "several protocols are set (%s)", strings.Join(deviceProtocols, ", "))
	}

	// Property visitors, from the model.
	switch {
	case model != nil:
		for i, v := range model.Spec.PropertyVisitors {
			var nv v1alpha2.DevicePropertyVisitor
			convertVisitor(&v, &nv)
			for _, p := range visitorProtocols(v.VisitorConfig) {
				if len(deviceProtocols) > 0 && !contains(deviceProtocols, p) {
					add(fmt.Sprintf("spec.propertyVisitors[%d]", i), "visitor for %q uses %s, which the device protocol does not set", v.PropertyName, p)
				}
			}
			spec.PropertyVisitors = append(spec.PropertyVisitors, nv)
		}
	case old.Spec.DeviceModelRef != nil:
		add("spec.propertyVisitors", "model %q not available: its property visitors were not copied", old.Spec.DeviceModelRef.Name)
	}

	// Status.
	for _, t := range old.Status.Twins {
		out.Status.Twins = append(out.Status.Twins, v1alpha2.Twin{
			PropertyName: t.PropertyName,
			Desired:      v1alpha2.TwinProperty{Value: t.Desired.Value, Metadata: copyStringMap(t.Desired.Metadata)},
			Reported:     v1alpha2.TwinProperty{Value: t.Reported.Value, Metadata: copyStringMap(t.Reported.Metadata)},
		})
	}
	return out, problems, nil
}

func convertVisitor(in *v1alpha1.DevicePropertyVisitor, out *v1alpha2.DevicePropertyVisitor) {
	c := new(v1alpha1.DevicePropertyVisitor)
	in.DeepCopyInto(c)
	out.PropertyName = c.PropertyName
	if o := c.OpcUA; o != nil {
		out.OpcUA = &v1alpha2.VisitorConfigOPCUA{NodeID: o.NodeID, BrowseName: o.BrowseName}
	}
	if m := c.Modbus; m != nil {
		out.Modbus = &v1alpha2.VisitorConfigModbus{
			Register: v1alpha2.ModbusRegisterType(m.Register), Offset: m.Offset, Limit: m.Limit,
			Scale: m.Scale, IsSwap: m.IsSwap, IsRegisterSwap: m.IsRegisterSwap,
		}
	}
	if b := c.Bluetooth; b != nil {
		nb := &v1alpha2.VisitorConfigBluetooth{
			CharacteristicUUID:   b.CharacteristicUUID,
			DataWriteToBluetooth: b.DataWriteToBluetooth,
			BluetoothDataConverter: v1alpha2.BluetoothReadConverter{
				StartIndex: b.BluetoothDataConverter.StartIndex,
				EndIndex:   b.BluetoothDataConverter.EndIndex,
				ShiftLeft:  b.BluetoothDataConverter.ShiftLeft,
				ShiftRight: b.BluetoothDataConverter.ShiftRight,
			},
		}
		for _, op := range b.BluetoothDataConverter.OrderOfOperations {
			nb.BluetoothDataConverter.OrderOfOperations = append(nb.BluetoothDataConverter.OrderOfOperations, v1alpha2.BluetoothOperations{
				BluetoothOperationType:  v1alpha2.BluetoothArithmeticOperationType(op.BluetoothOperationType),
				BluetoothOperationValue: op.BluetoothOperationValue,
			})
		}
		out.Bluetooth = nb
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func copyStringMap(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
