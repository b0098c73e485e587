// Share links. Remembers the code a visitor arrived with (?ref=, last touch wins, for the
// configured window) and hands it to the donate form; and makes a supporter's own link from
// the thank-you page without leaving it. Without this script the API's cookie and pages do both.
(function(){
var KEY='pledge_ref',days=+document.documentElement.dataset.refDays||30,m=/[?&]ref=([a-zA-Z0-9-]{3,32})(&|$)/.exec(location.search);
function store(){try{return localStorage}catch(e){return null}}
var s=store();
if(m&&s)s.setItem(KEY,JSON.stringify({c:m[1].toLowerCase(),t:Date.now()}));
var f=document.querySelector('form.donate');
if(f&&s){try{var r=JSON.parse(s.getItem(KEY)||'null');
 if(r&&Date.now()-r.t<days*864e5){var i=document.createElement('input');i.type='hidden';i.name='ref';i.value=r.c;f.appendChild(i)}}catch(e){}}
var l=document.querySelector('form.share-link');
if(l)l.addEventListener('submit',function(e){
 e.preventDefault();
 var out=l.querySelector('[data-link-result]'),d={};
 new FormData(l).forEach(function(v,k){d[k]=v});
 fetch(l.action,{method:'POST',headers:{'Content-Type':'application/json'},body:JSON.stringify(d)})
 .then(function(r){return r.json().then(function(j){if(!r.ok)throw j.detail||r.status;return j})})
 .then(function(j){out.textContent='';var i=document.createElement('input');i.readOnly=true;i.value=j.url;i.dir='ltr';
  i.setAttribute('aria-label',l.querySelector('h2').textContent);out.appendChild(i);i.select()})
 .catch(function(x){out.textContent=typeof x=='string'?x:'Sorry, that did not work. Please try again.'});
});
})();
