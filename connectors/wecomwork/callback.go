package wecomwork

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kefuhub/kefuhub/connectors"
)

// EventApprovalChange is the callback event of an approval's status change.
const EventApprovalChange = "sys_approval_change"

// ApprovalStatus is an approval's SpStatus.
type ApprovalStatus int

// Approval statuses (SpStatus).
const (
	ApprovalPending                ApprovalStatus = 1  // 审批中
	ApprovalApproved               ApprovalStatus = 2  // 已通过
	ApprovalRejected               ApprovalStatus = 3  // 已驳回
	ApprovalWithdrawn              ApprovalStatus = 4  // 已撤销
	ApprovalWithdrawnAfterApproval ApprovalStatus = 6  // 通过后撤销
	ApprovalDeleted                ApprovalStatus = 7  // 已删除
	ApprovalPaid                   ApprovalStatus = 10 // 已支付
)

var statusNames = map[ApprovalStatus]string{
	ApprovalPending: "pending", ApprovalApproved: "approved", ApprovalRejected: "rejected",
	ApprovalWithdrawn: "withdrawn", ApprovalWithdrawnAfterApproval: "withdrawn after approval",
	ApprovalDeleted: "deleted", ApprovalPaid: "paid",
}

func (s ApprovalStatus) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "status " + strconv.Itoa(int(s))
}

// Known reports whether s is one of the documented statuses. The parser
// passes unknown ones through; the hub should ignore them.
func (s ApprovalStatus) Known() bool {
	_, ok := statusNames[s]
	return ok
}

// ApprovalChange is a decoded sys_approval_change callback.
type ApprovalChange struct {
	CorpID     string // ToUserName
	AgentID    string
	SpNo       string
	SpName     string
	TemplateID string
	Status     ApprovalStatus
	// ChangeEvent is StatuChangeEvent (sic): 1 submitted, 2 approved,
	// 3 rejected, 4 transferred, 5 urged, 6 withdrawn, 8 withdrawn after
	// approval, 10 remark added.
	ChangeEvent int
	Applicant   string // Applyer.UserId
	ApplyTime   time.Time
	// Comment is what the approver who acted last wrote (Speech), or the
	// remark a ChangeEvent 10 added; CommentBy is their UserID.
	Comment   string
	CommentBy string
}

// maxCallbackBytes bounds the XML ParseApprovalChange reads.
const maxCallbackBytes = 1 << 20

type approvalXML struct {
	ToUserName string `xml:"ToUserName"`
	MsgType    string `xml:"MsgType"`
	Event      string `xml:"Event"`
	AgentID    string `xml:"AgentID"`
	Info       struct {
		SpNo       string `xml:"SpNo"`
		SpName     string `xml:"SpName"`
		SpStatus   string `xml:"SpStatus"`
		TemplateID string `xml:"TemplateId"`
		ApplyTime  string `xml:"ApplyTime"`
		Applyer    struct {
			UserID string `xml:"UserId"`
		} `xml:"Applyer"`
		SpRecord []struct {
			SpStatus string `xml:"SpStatus"`
			Details  []struct {
				Approver struct {
					UserID string `xml:"UserId"`
				} `xml:"Approver"`
				Speech   string `xml:"Speech"`
				SpStatus string `xml:"SpStatus"`
				SpTime   string `xml:"SpTime"`
			} `xml:"Details"`
		} `xml:"SpRecord"`
		Comments []struct {
			CommentUserInfo struct {
				UserID string `xml:"UserId"`
			} `xml:"CommentUserInfo"`
			CommentTime    string `xml:"CommentTime"`
			CommentContent string `xml:"CommentContent"`
		} `xml:"Comments"`
		StatuChangeEvent string `xml:"StatuChangeEvent"`
	} `xml:"ApprovalInfo"`
}

// changeRemark is StatuChangeEvent "remark added".
const changeRemark = 10

// ParseApprovalChange decodes the plaintext XML of a sys_approval_change
// callback (decrypted and verified already). Errors are
// *connectors.BadRequestError: not XML, another event, no SpNo, SpStatus
// not a number.
//
// Comment: the Speech of the approver who acted last, by SpTime, across
// all SpRecord nodes; when no node has a time, the last node's last
// Speech. ("The last SpRecord" alone would miss a rejection at the first
// of two nodes: the second, untouched node is listed too.) For a remark
// (StatuChangeEvent 10) it is the newest remark (Comments) instead.
func ParseApprovalChange(plainXML []byte) (*ApprovalChange, error) {
	if len(plainXML) > maxCallbackBytes {
		return nil, &connectors.BadRequestError{Reason: "approval callback is larger than 1 MiB"}
	}
	var x approvalXML
	if err := xml.Unmarshal(plainXML, &x); err != nil {
		return nil, &connectors.BadRequestError{Reason: "approval callback is not valid XML"}
	}
	if strings.TrimSpace(x.Event) != EventApprovalChange {
		return nil, &connectors.BadRequestError{Reason: fmt.Sprintf("callback event %q is not %s", clipRunes(strings.TrimSpace(x.Event), 40), EventApprovalChange)}
	}
	info := x.Info
	ch := &ApprovalChange{
		CorpID: strings.TrimSpace(x.ToUserName), AgentID: strings.TrimSpace(x.AgentID),
		SpNo: strings.TrimSpace(info.SpNo), SpName: strings.TrimSpace(info.SpName),
		TemplateID: strings.TrimSpace(info.TemplateID), Applicant: strings.TrimSpace(info.Applyer.UserID),
	}
	if ch.SpNo == "" {
		return nil, &connectors.BadRequestError{Reason: "approval callback without SpNo"}
	}
	status, err := strconv.Atoi(strings.TrimSpace(info.SpStatus))
	if err != nil {
		return nil, &connectors.BadRequestError{Reason: "approval callback SpStatus is not a number"}
	}
	ch.Status = ApprovalStatus(status)
	ch.ChangeEvent, _ = strconv.Atoi(strings.TrimSpace(info.StatuChangeEvent))
	if sec, err := strconv.ParseInt(strings.TrimSpace(info.ApplyTime), 10, 64); err == nil && sec > 0 {
		ch.ApplyTime = time.Unix(sec, 0).UTC()
	}

	// The approver who acted last.
	var latest int64 = -1
	for _, rec := range info.SpRecord {
		for _, d := range rec.Details {
			at, err := strconv.ParseInt(strings.TrimSpace(d.SpTime), 10, 64)
			if err != nil || at <= 0 || at < latest {
				continue
			}
			latest = at
			ch.Comment, ch.CommentBy = strings.TrimSpace(d.Speech), strings.TrimSpace(d.Approver.UserID)
		}
	}
	if latest < 0 && len(info.SpRecord) > 0 {
		for _, d := range info.SpRecord[len(info.SpRecord)-1].Details {
			if s := strings.TrimSpace(d.Speech); s != "" {
				ch.Comment, ch.CommentBy = s, strings.TrimSpace(d.Approver.UserID)
			}
		}
	}
	if ch.ChangeEvent == changeRemark {
		var newest int64 = -1
		for _, c := range info.Comments {
			at, _ := strconv.ParseInt(strings.TrimSpace(c.CommentTime), 10, 64)
			if at >= newest {
				newest = at
				ch.Comment, ch.CommentBy = strings.TrimSpace(c.CommentContent), strings.TrimSpace(c.CommentUserInfo.UserID)
			}
		}
	}
	return ch, nil
}
