// Live totals for .progress[data-campaign]: ETag polling, backoff to 60 s, paused while hidden.
(function(){
var L=document.documentElement.lang||undefined;
// Recent gifts (from the totals) and the leaderboard (fetched once) under the progress bar.
function money(a,n,minor,exp,cur){try{return new Intl.NumberFormat(L,{style:'currency',currency:cur,numberingSystem:a.dataset.nu||'latn',
 minimumFractionDigits:0,maximumFractionDigits:exp}).formatToParts(minor/Math.pow(10,exp)).map(function(p){return p.type=='currency'&&a.dataset.symbol||p.value}).join('')}
 catch(e){return String(minor/Math.pow(10,exp))}}
function row(a,name,text){var li=document.createElement('li'),b=document.createElement('span');
 li.textContent=(name||a.dataset.anonymous)+' \u00b7 ';b.className='amount-given';b.textContent=text;li.appendChild(b);return li}
function activity(j){var a=document.querySelector('[data-activity="'+j.campaign+'"]');if(!a||!j.recent)return;
 var ul=a.querySelector('[data-recent]');ul.textContent='';
 j.recent.forEach(function(g){ul.appendChild(row(a,g.name,money(a,0,g.amount_minor,j.exponent,j.currency)))});
 if(j.recent.length)a.hidden=false;
 if(a.dataset.loaded)return;a.dataset.loaded=1;
 fetch((a.dataset.api||'')+'/api/v1/campaigns/'+encodeURIComponent(j.campaign)+'/leaderboard').then(function(r){return r.ok?r.json():null}).then(function(b){
  if(!b||!b.leaders.length)return;var ol=a.querySelector('[data-leaders]');
  b.leaders.forEach(function(l){ol.appendChild(row(a,l.name||l.code,money(a,0,l.raised_minor,j.exponent,j.currency)))});
  a.querySelector('[data-leaders-block]').hidden=false;a.hidden=false}).catch(function(){});
}
document.querySelectorAll('.progress[data-campaign]').forEach(function(el){
 var d=el.dataset,url=(d.api||'')+'/api/v1/campaigns/'+encodeURIComponent(d.campaign)+'/totals',
  base=Math.max(1,+d.poll||5)*1e3,delay=base,etag='',timer=0,busy=0;
 function q(s){return el.querySelector('['+s+']')}
 function fmt(n,c){var o={numberingSystem:d.nu||'latn'};if(c){o.style='currency';o.currency=c;o.minimumFractionDigits=0;o.maximumFractionDigits=0}
  try{return new Intl.NumberFormat(L,o)
  .formatToParts(n).map(function(p){return p.type=='currency'&&d.symbol||p.value}).join('')}catch(e){return(c?d.symbol||'':'')+n}}
 function apply(j){
  var r=Math.max(0,j.raised_minor),g=j.goal_minor,s=Math.pow(10,j.exponent),key=[j.raised_minor,j.donors,g].join(),
   p=g>0?Math.min(100,r*100/g):0,
   t={'data-raised':fmt(Math.floor(r/s),j.currency),'data-goal':fmt(g/s,j.currency),'data-donors':fmt(j.donors)},
   b=q('data-bar');
  if(key==d.v)return;
  for(var a in t)if(q(a))q(a).textContent=t[a];
  if(b){b.value=r>0?Math.max(p,1):0;b.textContent=Math.floor(p)+'%'}
  d.v=key;
 }
 function tick(){
  timer=0;
  if(busy||document.hidden)return;
  busy=1;
  fetch(url,{headers:etag?{'If-None-Match':etag}:{}}).then(function(r){
   if(r.status==304)return;
   if(!r.ok)throw 0;
   var tag=r.headers.get('ETag');
   return r.json().then(function(j){
    if([j.raised_minor,j.goal_minor,j.donors,j.exponent].some(function(v){return typeof v!='number'}))throw 0;
    apply(j);
    activity(j);
    etag=tag||'';
   });
  }).then(function(){delay=base},function(){delay=Math.min(delay*2,6e4)}).then(function(){
   busy=0;
   if(!document.hidden)timer=setTimeout(tick,delay);
  });
 }
 document.addEventListener('visibilitychange',function(){
  clearTimeout(timer);timer=0;
  if(!document.hidden)tick();
 });
 tick();
});
})();
