"""`python -m association bootstrap TENANTS`: from a list of tenants to deployable stacks.

Signed in once as an administrator (or a partner's, through GDAP), for each tenant: the
pipeline apps' service principals and admin consent as Graph calls (`grants`), the deploy
identity's Exchange role group (`exchange_rights`), an app made by hand from Mimecast's guide
found (`discover`), the stack file written without losing a hand-written line (`stack_text`),
then preflight. What each call needs is declared once (`needs`); what was done is recorded per
tenant (`state`), so a stopped run resumes and a second run changes nothing.
"""
