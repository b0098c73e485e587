// Keeps the donate form's two ways of choosing an amount visibly consistent: typing an amount
// clears the chosen button, choosing a button clears the typed amount. The server already
// prefers a typed amount, so the form works the same without this script.
(function(){
var f=document.querySelector('form.donate');if(!f)return;
var other=f.querySelector('[name=other_amount]'),radios=f.querySelectorAll('[name=amount]');
other.addEventListener('input',function(){if(other.value)radios.forEach(function(r){r.checked=false})});
radios.forEach(function(r){r.addEventListener('change',function(){other.value=''})});
})();
