// Keeps the donate form's two ways of choosing an amount visibly consistent: typing an amount
// clears the chosen button, choosing a button clears the typed amount. The server already
// prefers a typed amount, so the form works the same without this script.
//
// It also gives each gift an idempotency key, so a double click or a resubmission of the same
// form opens one payment, not two; changing the gift (another amount) gets a new key.
(function(){
var f=document.querySelector('form.donate');if(!f)return;
var other=f.querySelector('[name=other_amount]'),radios=f.querySelectorAll('[name=amount]');
other.addEventListener('input',function(){if(other.value)radios.forEach(function(r){r.checked=false})});
radios.forEach(function(r){r.addEventListener('change',function(){other.value=''})});
var key=document.createElement('input');key.type='hidden';key.name='idempotency_key';f.appendChild(key);
var sent=null;
function gift(){var d=new FormData(f);d.delete('idempotency_key');return new URLSearchParams(d).toString()}
function fresh(){return crypto.randomUUID?crypto.randomUUID():Date.now().toString(36)+Math.random().toString(36).slice(2)}
f.addEventListener('submit',function(){var g=gift();if(g!==sent){sent=g;key.value=fresh()}});
})();
