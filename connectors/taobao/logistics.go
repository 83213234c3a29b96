package taobao

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
)

// Trace is where an order's parcel is.
type Trace struct {
	Tid         string
	CompanyName string // 物流公司
	OutSid      string // 运单号
	Status      string
	// Steps are the carrier's scans, as the gateway lists them (oldest
	// first).
	Steps []TraceStep
}

// TraceStep is one scan of the parcel.
type TraceStep struct {
	Time   time.Time // zero when the gateway's time is unreadable
	Desc   string
	Action string
}

const methodTrace = "taobao.logistics.trace.search"

// LogisticsTrace looks up the parcel of order tid with
// taobao.logistics.trace.search. Errors are those of every call
// (RetryableError, PermanentError, *APIError: an order without a parcel is
// an *APIError from the gateway).
func (c *Channel) LogisticsTrace(ctx context.Context, tid string) (*Trace, error) {
	if !validID(tid) {
		return nil, errors.New("taobao: an order id (tid) is digits")
	}
	var res struct {
		Tid         flexString `json:"tid"`
		OutSid      string     `json:"out_sid"`
		CompanyName string     `json:"company_name"`
		Status      string     `json:"status"`
		TraceList   struct {
			TransitStepInfo json.RawMessage `json:"transit_step_info"`
		} `json:"trace_list"`
	}
	if err := c.call(ctx, methodTrace, map[string]string{"tid": tid}, &res); err != nil {
		return nil, err
	}
	t := &Trace{Tid: string(res.Tid), CompanyName: res.CompanyName, OutSid: res.OutSid, Status: res.Status}
	if t.Tid == "" {
		t.Tid = tid
	}
	var steps []struct {
		StatusTime string `json:"status_time"`
		StatusDesc string `json:"status_desc"`
		Action     string `json:"action"`
	}
	if len(res.TraceList.TransitStepInfo) > 0 {
		if err := json.Unmarshal(res.TraceList.TransitStepInfo, &steps); err != nil {
			return nil, errors.New("taobao: " + methodTrace + ": unexpected trace_list shape")
		}
	}
	for _, s := range steps {
		t.Steps = append(t.Steps, TraceStep{Time: parseTime(s.StatusTime), Desc: s.StatusDesc, Action: s.Action})
	}
	return t, nil
}

var _ connectors.ParcelTracker = (*Channel)(nil)

// TrackParcel implements connectors.ParcelTracker with LogisticsTrace.
func (c *Channel) TrackParcel(ctx context.Context, orderID string) (*connectors.ParcelTrace, error) {
	t, err := c.LogisticsTrace(ctx, orderID)
	if err != nil {
		return nil, err
	}
	out := &connectors.ParcelTrace{OrderID: t.Tid, Carrier: t.CompanyName, TrackingNo: t.OutSid, Status: t.Status}
	for _, s := range t.Steps {
		out.Steps = append(out.Steps, connectors.ParcelStep{At: s.Time, Description: s.Desc})
	}
	return out, nil
}
