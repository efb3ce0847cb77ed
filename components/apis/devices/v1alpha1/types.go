package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Device is one physical device bound to an edge node (v1alpha1 shape).
type Device struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DeviceSpec   `json:"spec,omitempty"`
	Status DeviceStatus `json:"status,omitempty"`
}

// DeviceList is a list of Devices.
type DeviceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []Device `json:"items"`
}

// DeviceSpec is the desired state of a Device. The v1alpha1 CRD requires
// deviceModelRef and nodeSelector.
type DeviceSpec struct {
	DeviceModelRef *corev1.LocalObjectReference `json:"deviceModelRef,omitempty"`
	Protocol       ProtocolConfig               `json:"protocol,omitempty"`
	NodeSelector   *corev1.NodeSelector         `json:"nodeSelector,omitempty"`
}

// ProtocolConfig holds one of opcua, modbus or bluetooth.
type ProtocolConfig struct {
	OpcUA     *ProtocolConfigOpcUA     `json:"opcua,omitempty"`
	Modbus    *ProtocolConfigModbus    `json:"modbus,omitempty"`
	Bluetooth *ProtocolConfigBluetooth `json:"bluetooth,omitempty"`
}

// ProtocolConfigOpcUA configures an OPC UA server connection.
type ProtocolConfigOpcUA struct {
	URL            string `json:"url,omitempty"`
	UserName       string `json:"userName,omitempty"`
	Password       string `json:"password,omitempty"`
	SecurityPolicy string `json:"securityPolicy,omitempty"`
	SecurityMode   string `json:"securityMode,omitempty"`
	Certificate    string `json:"certificate,omitempty"`
	PrivateKey     string `json:"privateKey,omitempty"`
	Timeout        int64  `json:"timeout,omitempty"`
}

// ProtocolConfigModbus holds one of rtu or tcp.
type ProtocolConfigModbus struct {
	RTU *ProtocolConfigModbusRTU `json:"rtu,omitempty"`
	TCP *ProtocolConfigModbusTCP `json:"tcp,omitempty"`
}

// ProtocolConfigModbusTCP is modbus over TCP; note slaveID is a string here.
type ProtocolConfigModbusTCP struct {
	IP      string `json:"ip,omitempty"`
	Port    int64  `json:"port,omitempty"`
	SlaveID string `json:"slaveID,omitempty"`
}

// ProtocolConfigModbusRTU is modbus over a serial line.
type ProtocolConfigModbusRTU struct {
	SerialPort string `json:"serialPort,omitempty"`
	BaudRate   int64  `json:"baudRate,omitempty"`
	DataBits   int64  `json:"dataBits,omitempty"`
	Parity     string `json:"parity,omitempty"`
	StopBits   int64  `json:"stopBits,omitempty"`
	SlaveID    int64  `json:"slaveID,omitempty"`
}

// ProtocolConfigBluetooth configures a bluetooth device.
type ProtocolConfigBluetooth struct {
	MACAddress string `json:"macAddress,omitempty"`
}

// DeviceStatus is the observed state of a Device.
type DeviceStatus struct {
	Twins []Twin `json:"twins,omitempty"`
}

// Twin is the desired and reported value of one property.
type Twin struct {
	PropertyName string       `json:"propertyName,omitempty"`
	Desired      TwinProperty `json:"desired,omitempty"`
	Reported     TwinProperty `json:"reported,omitempty"`
}

// TwinProperty is a value with free-form metadata.
type TwinProperty struct {
	Value    string            `json:"value"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// DeviceModel describes properties and, in v1alpha1, how to visit them.
type DeviceModel struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec DeviceModelSpec `json:"spec,omitempty"`
}

// DeviceModelList is a list of DeviceModels.
type DeviceModelList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []DeviceModel `json:"items"`
}

// DeviceModelSpec lists properties and their visitors.
type DeviceModelSpec struct {
	Properties       []DeviceProperty        `json:"properties,omitempty"`
	PropertyVisitors []DevicePropertyVisitor `json:"propertyVisitors,omitempty"`
}

// DeviceProperty is one property of a model.
type DeviceProperty struct {
	Name        string       `json:"name,omitempty"`
	Description string       `json:"description,omitempty"`
	Type        PropertyType `json:"type,omitempty"`
}

// PropertyType holds one of int or string.
type PropertyType struct {
	Int    *PropertyTypeInt64  `json:"int,omitempty"`
	String *PropertyTypeString `json:"string,omitempty"`
}

// PropertyAccessMode is ReadWrite or ReadOnly.
type PropertyAccessMode string

// Access modes.
const (
	ReadWrite PropertyAccessMode = "ReadWrite"
	ReadOnly  PropertyAccessMode = "ReadOnly"
)

// PropertyTypeInt64 is an integer property.
type PropertyTypeInt64 struct {
	AccessMode   PropertyAccessMode `json:"accessMode,omitempty"`
	DefaultValue int64              `json:"defaultValue,omitempty"`
	Minimum      int64              `json:"minimum,omitempty"`
	Maximum      int64              `json:"maximum,omitempty"`
	Unit         string             `json:"unit,omitempty"`
}

// PropertyTypeString is a string property.
type PropertyTypeString struct {
	AccessMode   PropertyAccessMode `json:"accessMode,omitempty"`
	DefaultValue string             `json:"defaultValue,omitempty"`
}

// DevicePropertyVisitor says how one property is accessed.
type DevicePropertyVisitor struct {
	PropertyName  string `json:"propertyName,omitempty"`
	VisitorConfig `json:",inline"`
}

// VisitorConfig holds one of opcua, modbus or bluetooth.
type VisitorConfig struct {
	OpcUA     *VisitorConfigOPCUA     `json:"opcua,omitempty"`
	Modbus    *VisitorConfigModbus    `json:"modbus,omitempty"`
	Bluetooth *VisitorConfigBluetooth `json:"bluetooth,omitempty"`
}

// VisitorConfigOPCUA addresses an OPC UA node.
type VisitorConfigOPCUA struct {
	NodeID     string `json:"nodeID,omitempty"`
	BrowseName string `json:"browseName,omitempty"`
}

// ModbusRegisterType is a modbus register table.
type ModbusRegisterType string

// VisitorConfigModbus addresses modbus registers.
type VisitorConfigModbus struct {
	Register       ModbusRegisterType `json:"register,omitempty"`
	Offset         *int64             `json:"offset,omitempty"`
	Limit          *int64             `json:"limit,omitempty"`
	Scale          float64            `json:"scale,omitempty"`
	IsSwap         bool               `json:"isSwap,omitempty"`
	IsRegisterSwap bool               `json:"isRegisterSwap,omitempty"`
}

// VisitorConfigBluetooth addresses a bluetooth characteristic.
type VisitorConfigBluetooth struct {
	CharacteristicUUID     string                 `json:"characteristicUUID,omitempty"`
	DataWriteToBluetooth   map[string][]byte      `json:"dataWrite,omitempty"`
	BluetoothDataConverter BluetoothReadConverter `json:"dataConverter,omitempty"`
}

// BluetoothReadConverter turns read bytes into a value.
type BluetoothReadConverter struct {
	StartIndex        int                   `json:"startIndex,omitempty"`
	EndIndex          int                   `json:"endIndex,omitempty"`
	ShiftLeft         uint                  `json:"shiftLeft,omitempty"`
	ShiftRight        uint                  `json:"shiftRight,omitempty"`
	OrderOfOperations []BluetoothOperations `json:"orderOfOperations,omitempty"`
}

// BluetoothArithmeticOperationType is Add, Subtract, Multiply or Divide.
type BluetoothArithmeticOperationType string

// BluetoothOperations is one arithmetic step.
type BluetoothOperations struct {
	BluetoothOperationType  BluetoothArithmeticOperationType `json:"operationType,omitempty"`
	BluetoothOperationValue float64                          `json:"operationValue,omitempty"`
}
