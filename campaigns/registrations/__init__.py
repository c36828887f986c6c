"""Sender registrations (10DLC brands and campaigns, toll-free verifications, short codes) and
the scheduled program review that keeps them true to what is actually sent.

- `models`: Brand, Registration, RegistrationSnapshot (versioned, frozen once submitted),
  ProgramReview and ReviewFinding.
- `validation`: the rules a snapshot is checked against when saved or submitted.
- `review`: `program_review_run`, the one function the schedule, the admin and the command call.
- `sync`: import, refresh and submit through Twilio's A2P APIs.
- `gate`: does an approved registration cover this sender, program and message type?
"""
