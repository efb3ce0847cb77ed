package v1alpha2

import (
	"k8s.io/apimachinery/pkg/runtime"
)

// Hand-written deep copies (no code generator in this build).

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

func copyInt64(in *int64) *int64 {
	if in == nil {
		return nil
	}
	v := *in
	return &v
}

// DeepCopyInto copies in into out.
func (in *Device) DeepCopyInto(out *Device) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
	in.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a deep copy.
func (in *Device) DeepCopy() *Device {
	if in == nil {
		return nil
	}
	out := new(Device)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *Device) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies in into out.
func (in *DeviceList) DeepCopyInto(out *DeviceList) {
	*out = *in
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]Device, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy.
func (in *DeviceList) DeepCopy() *DeviceList {
	if in == nil {
		return nil
	}
	out := new(DeviceList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *DeviceList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies in into out.
func (in *DeviceSpec) DeepCopyInto(out *DeviceSpec) {
	*out = *in
	if in.DeviceModelRef != nil {
		r := *in.DeviceModelRef
		out.DeviceModelRef = &r
	}
	in.Protocol.DeepCopyInto(&out.Protocol)
	if in.PropertyVisitors != nil {
		out.PropertyVisitors = make([]DevicePropertyVisitor, len(in.PropertyVisitors))
		for i := range in.PropertyVisitors {
			in.PropertyVisitors[i].DeepCopyInto(&out.PropertyVisitors[i])
		}
	}
	in.Data.DeepCopyInto(&out.Data)
	if in.NodeSelector != nil {
		out.NodeSelector = in.NodeSelector.DeepCopy()
	}
}

// DeepCopyInto copies in into out.
func (in *DeviceData) DeepCopyInto(out *DeviceData) {
	*out = *in
	if in.DataProperties != nil {
		out.DataProperties = make([]DataProperty, len(in.DataProperties))
		for i, p := range in.DataProperties {
			out.DataProperties[i] = DataProperty{PropertyName: p.PropertyName, Metadata: copyStringMap(p.Metadata)}
		}
	}
}

// DeepCopyInto copies in into out.
func (in *ProtocolConfig) DeepCopyInto(out *ProtocolConfig) {
	*out = *in
	if in.OpcUA != nil {
		v := *in.OpcUA
		out.OpcUA = &v
	}
	if in.Modbus != nil {
		out.Modbus = &ProtocolConfigModbus{SlaveID: copyInt64(in.Modbus.SlaveID)}
	}
	if in.Bluetooth != nil {
		v := *in.Bluetooth
		out.Bluetooth = &v
	}
	if in.Common != nil {
		c := *in.Common
		if in.Common.COM != nil {
			v := *in.Common.COM
			c.COM = &v
		}
		if in.Common.TCP != nil {
			v := *in.Common.TCP
			c.TCP = &v
		}
		c.CustomizedValues = in.Common.CustomizedValues.DeepCopy()
		out.Common = &c
	}
	if in.CustomizedProtocol != nil {
		out.CustomizedProtocol = &ProtocolConfigCustomized{
			ProtocolName: in.CustomizedProtocol.ProtocolName,
			ConfigData:   in.CustomizedProtocol.ConfigData.DeepCopy(),
		}
	}
}

// DeepCopyInto copies in into out.
func (in *DevicePropertyVisitor) DeepCopyInto(out *DevicePropertyVisitor) {
	*out = *in
	out.CustomizedValues = in.CustomizedValues.DeepCopy()
	in.VisitorConfig.DeepCopyInto(&out.VisitorConfig)
}

// DeepCopyInto copies in into out.
func (in *VisitorConfig) DeepCopyInto(out *VisitorConfig) {
	*out = *in
	if in.OpcUA != nil {
		v := *in.OpcUA
		out.OpcUA = &v
	}
	if in.Modbus != nil {
		v := *in.Modbus
		v.Offset = copyInt64(in.Modbus.Offset)
		v.Limit = copyInt64(in.Modbus.Limit)
		out.Modbus = &v
	}
	if in.Bluetooth != nil {
		v := *in.Bluetooth
		if in.Bluetooth.DataWriteToBluetooth != nil {
			v.DataWriteToBluetooth = make(map[string][]byte, len(in.Bluetooth.DataWriteToBluetooth))
			for k, b := range in.Bluetooth.DataWriteToBluetooth {
				if b == nil {
					v.DataWriteToBluetooth[k] = nil
					continue
				}
				v.DataWriteToBluetooth[k] = append([]byte{}, b...)
			}
		}
		if in.Bluetooth.BluetoothDataConverter.OrderOfOperations != nil {
			v.BluetoothDataConverter.OrderOfOperations = append([]BluetoothOperations(nil), in.Bluetooth.BluetoothDataConverter.OrderOfOperations...)
		}
		out.Bluetooth = &v
	}
	if in.CustomizedProtocol != nil {
		out.CustomizedProtocol = &VisitorConfigCustomized{
			ProtocolName: in.CustomizedProtocol.ProtocolName,
			ConfigData:   in.CustomizedProtocol.ConfigData.DeepCopy(),
		}
	}
}

// DeepCopyInto copies in into out.
func (in *DeviceStatus) DeepCopyInto(out *DeviceStatus) {
	*out = *in
	if in.Twins != nil {
		out.Twins = make([]Twin, len(in.Twins))
		for i, t := range in.Twins {
			out.Twins[i] = Twin{
				PropertyName: t.PropertyName,
				Desired:      TwinProperty{Value: t.Desired.Value, Metadata: copyStringMap(t.Desired.Metadata)},
				Reported:     TwinProperty{Value: t.Reported.Value, Metadata: copyStringMap(t.Reported.Metadata)},
			}
		}
	}
}

// DeepCopyInto copies in into out.
func (in *DeviceModel) DeepCopyInto(out *DeviceModel) {
	*out = *in
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
}

// DeepCopy returns a deep copy.
func (in *DeviceModel) DeepCopy() *DeviceModel {
	if in == nil {
		return nil
	}
	out := new(DeviceModel)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *DeviceModel) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies in into out.
func (in *DeviceModelList) DeepCopyInto(out *DeviceModelList) {
	*out = *in
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]DeviceModel, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy.
func (in *DeviceModelList) DeepCopy() *DeviceModelList {
	if in == nil {
		return nil
	}
	out := new(DeviceModelList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *DeviceModelList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies in into out.
func (in *DeviceModelSpec) DeepCopyInto(out *DeviceModelSpec) {
	*out = *in
	if in.Properties != nil {
		out.Properties = make([]DeviceProperty, len(in.Properties))
		for i := range in.Properties {
			in.Properties[i].DeepCopyInto(&out.Properties[i])
		}
	}
}

// DeepCopyInto copies in into out.
func (in *DeviceProperty) DeepCopyInto(out *DeviceProperty) {
	*out = *in
	t := &out.Type
	if in.Type.Int != nil {
		v := *in.Type.Int
		t.Int = &v
	}
	if in.Type.String != nil {
		v := *in.Type.String
		t.String = &v
	}
	if in.Type.Double != nil {
		v := *in.Type.Double
		t.Double = &v
	}
	if in.Type.Float != nil {
		v := *in.Type.Float
		t.Float = &v
	}
	if in.Type.Boolean != nil {
		v := *in.Type.Boolean
		t.Boolean = &v
	}
	if in.Type.Bytes != nil {
		v := *in.Type.Bytes
		t.Bytes = &v
	}
}
