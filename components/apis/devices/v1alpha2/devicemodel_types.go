package v1alpha2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeviceModel describes the properties shared by devices of one kind.
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

// DeviceModelSpec lists the protocol and properties of a model.
type DeviceModelSpec struct {
	// Protocol is the protocol devices of this model speak, e.g. "modbus".
	Protocol   string           `json:"protocol,omitempty"`
	Properties []DeviceProperty `json:"properties,omitempty"`
}

// DeviceProperty is one property of a model.
type DeviceProperty struct {
	Name        string       `json:"name,omitempty"`
	Description string       `json:"description,omitempty"`
	Type        PropertyType `json:"type,omitempty"`
}

// PropertyType holds exactly one of the typed property descriptions.
type PropertyType struct {
	Int     *PropertyTypeInt64   `json:"int,omitempty"`
	String  *PropertyTypeString  `json:"string,omitempty"`
	Double  *PropertyTypeDouble  `json:"double,omitempty"`
	Float   *PropertyTypeFloat   `json:"float,omitempty"`
	Boolean *PropertyTypeBoolean `json:"boolean,omitempty"`
	Bytes   *PropertyTypeBytes   `json:"bytes,omitempty"`
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

// PropertyTypeDouble is a float64 property.
type PropertyTypeDouble struct {
	AccessMode   PropertyAccessMode `json:"accessMode,omitempty"`
	DefaultValue float64            `json:"defaultValue,omitempty"`
	Minimum      float64            `json:"minimum,omitempty"`
	Maximum      float64            `json:"maximum,omitempty"`
	Unit         string             `json:"unit,omitempty"`
}

// PropertyTypeFloat is a float32 property.
type PropertyTypeFloat struct {
	AccessMode   PropertyAccessMode `json:"accessMode,omitempty"`
	DefaultValue float32            `json:"defaultValue,omitempty"`
	Minimum      float32            `json:"minimum,omitempty"`
	Maximum      float32            `json:"maximum,omitempty"`
	Unit         string             `json:"unit,omitempty"`
}

// PropertyTypeBoolean is a boolean property.
type PropertyTypeBoolean struct {
	AccessMode   PropertyAccessMode `json:"accessMode,omitempty"`
	DefaultValue bool               `json:"defaultValue,omitempty"`
}

// PropertyTypeBytes is a bytes property.
type PropertyTypeBytes struct {
	AccessMode PropertyAccessMode `json:"accessMode,omitempty"`
}
