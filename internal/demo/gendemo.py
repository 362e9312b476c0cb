# Generates bank.json and konkursvarsler.json (deterministic). Run from the repository root:
#   python3 internal/demo/gendemo.py
# The demo kjennelsesdato of each aapning is the date of its registreringstidspunkt.
import json, random, datetime
random.seed(20261123)
def org_ok(s):
    w=[3,2,7,6,5,4,3,2]; k=11-sum(int(a)*b for a,b in zip(s[:8],w))%11
    k=0 if k==11 else k
    return k!=10 and k==int(s[8])
def mkorg(prefix):
    for i in range(1000):
        base=prefix+str(i).zfill(8-len(prefix))
        for d in range(10):
            if org_ok(base+str(d)): return base+str(d)
orgs=[]
p=0
n=900000000
while len(orgs)<6:
    n+=7919
    s=str(n)
    if org_ok(s): orgs.append(s)
bank, other1, other2, payee1, payee2, payee3 = orgs
notices=json.load(open('testdata/konkursvarsel-testdata.json'))
# Demo kjennelsesdato: the date of the notice's registreringstidspunkt (as in the v1.0 documentation example).
items=[]
for n in notices:
    it=dict(n)
    if n['type']=='aapning':
        it['kjennelsesdato']=n['registreringstidspunkt'][:10]
    it['_links']={'self':{'href':'https://konkursvarsel.ppe-vcert.brreg.no/konkursvarsler/'+n['uuid']}}
    items.append(it)
json.dump({'_embedded':{'konkursvarsler':items}}, open('internal/demo/konkursvarsler.json','w'), indent=2, ensure_ascii=False)
names={'910336819':'Fjelltopp Bygg AS','910491482':'Havbris Handel AS','08086001471':'Kari Nordmann','20020101351':'Ola Fiskvik','21097400153':'Per Uten Konto',
'910375237':'Avsluttet Drift AS','910425463':'Slettet Konkurs AS','08086002265':'Siri Slettet','19020101140':'Oskar Opphevet','910018469':'Opphevet Verksted AS',
other1:'Frisk Kunde AS', other2:'Leverandør Nord AS'}
parties=[{'id':k,'name':v,'countryOfResidence':'NO'} for k,v in names.items()]
def acctno(i):
    # 11 digits with MOD11 check digit (weights 5,4,3,2,7,6,5,4,3,2)
    while True:
        base=str(1503)+str(random.randint(1000000,9999999)).zfill(6)
        base=base[:10]
        w=[5,4,3,2,7,6,5,4,3,2]; k=11-sum(int(a)*b for a,b in zip(base,w))%11
        k=0 if k==11 else k
        if k!=10: return base+str(k)
start=datetime.datetime(2017,3,1,9,0)
def txs(n, seed, card=False, start=start, end=datetime.datetime(2026,11,20,12,0)):
    r=random.Random(seed); out=[]
    span=(end-start).total_seconds()
    for i in range(n):
        t=start+datetime.timedelta(seconds=span*i/n + r.randint(0,3600))
        credit=r.random()<0.4
        amt=f"{r.randint(100,2500000)/100:.2f}"
        tr={'transactionIdentifier':f'{seed}-{i:05d}','references':[{'value':f'{r.randint(10**9,10**10-1)}','type':'archiveReference'}],
            'creditDebitIndicator':'credit' if credit else 'debit','reversalIndicator':False,'status':'booked',
            'transactionCode':{'domain':'payments','family':'receivedCreditTransfers' if credit else 'issuedCreditTransfers','subFamily':'domesticCreditTransfer','freeText':'Nettgiro'},
            'bookingDate':t.strftime('%Y-%m-%dT%H:%M:%S+01:00'),'valueDate':t.strftime('%Y-%m-%dT00:00:00+01:00'),
            'counterParties':[{'accountIdentifier':acctno(0),'identifier':{'countryOfResidence':'NO','value':payee1 if credit else payee2,'type':'countryIdentificationCode'},
              'name':'Kunde Sør AS' if credit else 'Leverandør Nord AS','type':'debtor' if credit else 'creditor',
              'postalAddress':{'postCode':'0150','type':'business','streetName':'Storgata','buildingNumber':str(r.randint(1,99)),'townName':'Oslo','country':'NO','addressLines':['Storgata 1, 0150 Oslo']}}],
            'additionalInfo':'Faktura '+str(r.randint(1000,9999)),'registered':t.strftime('%Y-%m-%dT%H:%M:%S+01:00'),'amount':amt,'currency':'NOK'}
        if card and i%3==0:
            tr['transactionCode']={'domain':'payments','family':'customerCardTransactions','subFamily':'pointOfSalePosPayment','freeText':'Visa Varekjøp'}
            tr['merchant']='Kiwi Majorstuen'; tr['creditDebitIndicator']='debit'; del tr['counterParties']
            tr['paymentCard']={'cardIdentifier':'4925000012345678','holderName':names.get('08086001471'),'startDate':'2022-01','expiryDate':'2027-12','cardIssuerName':'Demobanken ASA','type':'debitCard','cardStatus':'blocked','versionNumber':'1','cardIssuerIdentifier':{'countryOfResidence':'NO','value':bank,'type':'countryIdentificationCode'}}
        if i%17==5:
            tr['currencyExchange']={'originalAmount':f"{float(amt)/11.5:.2f}",'sourceCurrency':'EUR','targetCurrency':'NOK','unitCurrency':'EUR','exchangeRate':'11.5'}
        out.append(tr)
    if out:
        # one reserved (pending) item at the end
        p=dict(out[-1]); p['transactionIdentifier']=f'{seed}-pending'; p['status']='pending'; del p['bookingDate']; p['registered']=end.strftime('%Y-%m-%dT%H:%M:%S+01:00')
        out.append(p)
    return out
def cur(booked, avail, cdi='credit'):
    return {'booked':{'amount':booked,'creditDebitIndicator':cdi},'available':{'amount':avail,'creditDebitIndicator':cdi},'registered':'2026-11-20T12:00:00+01:00'}
def owner(pid, s='2015-01-01', e=None, perm='rightToUseAlone'):
    r={'partyId':pid,'role':'primaryOwner','permission':perm,'startDate':s}
    if e: r['endDate']=e
    return r
accounts=[]
def acct(typ, status, roles, n, seed, name=None, sd='2015-01-01', ed=None, card=False, bal=None, hist=None, archived=None, credit=None):
    a={'accountNumber':acctno(0),'type':typ,'currency':'NOK','status':status,'startDate':sd,'roles':roles,'balances':{}}
    if name: a['name']=name
    if ed: a['endDate']=ed
    if archived: a['archivedBefore']=archived
    if bal: a['balances']['current']=bal
    if hist: a['balances']['history']=hist
    if credit: a['balances']['creditLine']=credit
    endt = datetime.datetime.strptime(ed,'%Y-%m-%d') if ed else datetime.datetime(2026,11,20,12,0)
    a['transactions']=txs(n, seed, card, end=endt)
    accounts.append(a)
hist=[{'date':f'{y}-12-31','amount':f'{1000*y%97+100}.00','creditDebitIndicator':'credit'} for y in range(2017,2026)]
acct('businessAccount','disabled',[owner('910336819'),{'partyId':'08086001471','role':'disponent','permission':'rightToUseWithOther','startDate':'2019-01-01'}],60,'fjell-drift','Driftskonto',bal=cur('15230.50','0.00'),hist=hist,credit={'amount':'50000.00','currency':'NOK','included':False})
acct('savingsAccount','disabled',[owner('910336819')],12,'fjell-spar','Buffer',ed='2025-03-20',hist=hist)
acct('businessAccount','enabled',[owner(other1),{'partyId':'910336819','role':'disponent','permission':'rightToSeeOnly','startDate':'2020-01-01'}],10,'frisk-drift','Frisk drift',bal=cur('99000.00','99000.00'))
acct('businessAccount','disabled',[owner('910491482',s='2012-05-01')],40,'havbris-drift',archived='2018-01-01',bal=cur('420.00','0.00','debit'),hist=hist)
acct('salaryAccount','disabled',[owner('08086001471',s='2010-08-01')],45,'kari-lonn','Brukskonto',card=True,bal=cur('3120.75','0.00'),hist=hist)
acct('creditCardAccount','disabled',[owner('08086001471',s='2019-02-01')],20,'kari-kort',card=True,bal=cur('8450.00','0.00','debit'),credit={'amount':'30000.00','currency':'NOK','included':True})
acct('savingsAccount','disabled',[owner('20020101351',s='2016-06-01')],8,'ola-spar','Sparekonto',bal=cur('250000.00','0.00'),hist=hist)
acct('loanAccount','enabled',[owner(other1),{'partyId':'20020101351','role':'guarantor','startDate':'2018-01-01'},{'partyId':'20020101351','role':'coBorrower','startDate':'2018-01-01'}],5,'frisk-lan',bal=cur('1200000.00','0.00','debit'))
acct('businessAccount','enabled',[owner('910375237')],10,'avsluttet-drift',bal=cur('0.00','0.00'))
acct('businessAccount','enabled',[owner('910425463')],10,'slettet-drift',bal=cur('5000.00','5000.00'))
acct('salaryAccount','enabled',[owner('08086002265')],10,'siri-lonn',bal=cur('700.00','700.00'))
acct('salaryAccount','enabled',[owner('19020101140')],10,'oskar-lonn',bal=cur('800.00','800.00'))
acct('businessAccount','enabled',[owner('910018469')],10,'verksted-drift',bal=cur('12000.00','12000.00'))
# An account with more than one page of transactions in the window of 20020101351 (kjennelsesdato
# 2018-06-08, so fromDate >= 2017-06-08), so that paging can be seen on the demo bank - and the
# conformance kit (dsop-bank conformance) can follow `next` against `make run`. Lean transactions
# keep the file small.
def paging(n, seed, start, end):
    r=random.Random(seed); span=(end-start).total_seconds(); out=[]
    for i in range(n):
        t=start+datetime.timedelta(seconds=span*i/n)
        credit=r.random()<0.3
        out.append({'transactionIdentifier':f'{seed}-{i:05d}','creditDebitIndicator':'credit' if credit else 'debit','status':'booked',
            'bookingDate':t.strftime('%Y-%m-%dT%H:%M:%S+01:00'),'amount':f"{r.randint(100,500000)/100:.2f}",'currency':'NOK',
            'additionalInfo':'Varekjøp' if not credit else 'Innbetaling'})
    return out
a={'accountNumber':acctno(0),'type':'salaryAccount','currency':'NOK','status':'disabled','startDate':'2016-06-01','roles':[owner('20020101351',s='2016-06-01')],
   'balances':{'current':cur('1750.00','0.00'),'history':hist},'name':'Brukskonto'}
a['transactions']=paging(1100,'ola-lonn',datetime.datetime(2017,6,10,8,0),datetime.datetime(2018,6,7,20,0))
accounts.append(a)
bd={'servicer':{'organisationNumber':bank,'name':'Demobanken ASA','countryOfResidence':'NO'},'parties':parties,'accounts':accounts}
import re
out=json.dumps(bd, indent=1, ensure_ascii=False)
# Amounts are JSON numbers written with their exact decimals (the file format reads them as decimal text).
out=re.sub(r'"(amount|originalAmount|exchangeRate)": "([0-9]+(?:\.[0-9]+)?)"', r'"\1": \2', out)
open('internal/demo/bank.json','w').write(out+'\n')
print(bank, other1, other2, len(accounts), sum(len(a['transactions']) for a in accounts))
