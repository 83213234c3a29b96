package models

import "time"

// ParcelTrace is where an order's parcel is (GraphQL ParcelTrace).
type ParcelTrace struct {
	OrderID    string
	Carrier    string
	TrackingNo string
	Status     string
	Steps      []*ParcelStep
}

// ParcelStep is one carrier scan.
type ParcelStep struct {
	At          *time.Time
	Description string
}
