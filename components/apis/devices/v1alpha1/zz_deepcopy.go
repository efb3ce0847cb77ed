package v1alpha1

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
	p := &out.Protocol
	if in.Protocol.OpcUA != nil {
		v := *in.Protocol.OpcUA
		p.OpcUA = &v
	}
	if in.Protocol.Modbus != nil {
		m := ProtocolConfigModbus{}
		if in.Protocol.Modbus.RTU != nil {
			v := *in.Protocol.Modbus.RTU
			m.RTU = &v
		}
		if in.Protocol.Modbus.TCP != nil {
			v := *in.Protocol.Modbus.TCP
			m.TCP = &v
		}
		p.Modbus = &m
	}
	if in.Protocol.Bluetooth != nil {
		v := *in.Protocol.Bluetooth
		p.Bluetooth = &v
	}
	if in.NodeSelector != nil {
		out.NodeSelector = in.NodeSelector.DeepCopy()
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
		for i, p := range in.Properties {
			out.Properties[i] = p
			if p.Type.Int != nil {
				v := *p.Type.Int
				out.Properties[i].Type.Int = &v
			}
			if p.Type.String != nil {
				v := *p.Type.String
				out.Properties[i].Type.String = &v
			}
		}
	}
	if in.PropertyVisitors != nil {
		out.PropertyVisitors = make([]DevicePropertyVisitor, len(in.PropertyVisitors))
		for i := range in.PropertyVisitors {
			in.PropertyVisitors[i].DeepCopyInto(&out.PropertyVisitors[i])
		}
	}
}

// DeepCopyInto copies in into out.
func (in *DevicePropertyVisitor) DeepCopyInto(out *DevicePropertyVisitor) {
	*out = *in
	c := &out.VisitorConfig
	if in.OpcUA != nil {
		v := *in.OpcUA
		c.OpcUA = &v
	}
	if in.Modbus != nil {
		v := *in.Modbus
		v.Offset = copyInt64(in.Modbus.Offset)
		v.Limit = copyInt64(in.Modbus.Limit)
		c.Modbus = &v
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
		c.Bluetooth = &v
	}
}
