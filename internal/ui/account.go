package ui

import (
	"net/http"
	"net/url"
	"strings"
)

// Sign in, sign out, self-registration, own account, theme.

type loginData struct {
	Next      string
	Principal string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request, v *view) error {
	if v.User != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusFound)
		return nil
	}
	v.Title = "Sign in"
	v.Data = loginData{Next: r.URL.Query().Get("next")}
	c.render(w, v, "login")
	return nil
}

func (c *Console) login(w http.ResponseWriter, r *http.Request, v *view) error {
	principal := strings.TrimSpace(r.PostForm.Get("principal"))
	resp, err := v.api.session(http.MethodPost, "/c/login", url.Values{
		"principal": {principal}, "password": {r.PostForm.Get("password")},
	})
	if err != nil {
		if err := v.fail("login", err); err != nil {
			return err
		}
		v.Title = "Sign in"
		v.Data = loginData{Next: r.PostForm.Get("next"), Principal: principal}
		c.render(w, v, "login")
		return nil
	}
	for _, ck := range resp.Header.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", ck)
	}
	http.SetCookie(w, &http.Cookie{Name: preCSRFCookie, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
	return nil
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, v *view) error {
	resp, err := v.api.session(http.MethodGet, "/c/log_out", nil)
	if err != nil {
		return err
	}
	for _, ck := range resp.Header.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", ck)
	}
	return redirect(w, r, "/login", "You are signed out.")
}

func (c *Console) registerPage(w http.ResponseWriter, r *http.Request, v *view) error {
	if !v.Info.SelfRegistration {
		return &apiError{Status: http.StatusNotFound, Message: "Self-registration is turned off. Ask an administrator for an account."}
	}
	v.Title = "Create an account"
	c.render(w, v, "register")
	return nil
}

func (c *Console) register(w http.ResponseWriter, r *http.Request, v *view) error {
	if !v.Info.SelfRegistration {
		return &apiError{Status: http.StatusNotFound, Message: "Self-registration is turned off. Ask an administrator for an account."}
	}
	f := r.PostForm
	var err error
	if f.Get("password") != f.Get("password2") {
		err = &apiError{Status: http.StatusBadRequest, Message: "The two passwords differ."}
	} else {
		_, err = v.api.call(http.MethodPost, "/users", map[string]string{
			"username": strings.TrimSpace(f.Get("username")), "email": strings.TrimSpace(f.Get("email")),
			"realname": strings.TrimSpace(f.Get("realname")), "password": f.Get("password"), "comment": "",
		}, nil)
	}
	if err != nil {
		if err := v.fail("register", err); err != nil {
			return err
		}
		v.Title = "Create an account"
		c.render(w, v, "register")
		return nil
	}
	return redirect(w, r, "/login", "Your account is ready: sign in.")
}

func (c *Console) accountPage(w http.ResponseWriter, r *http.Request, v *view) error {
	if v.User == nil {
		http.Redirect(w, r, "/login?next=/account", http.StatusFound)
		return nil
	}
	v.Title = "Your account"
	c.render(w, v, "account")
	return nil
}

func (c *Console) changePassword(w http.ResponseWriter, r *http.Request, v *view) error {
	if v.User == nil {
		return &apiError{Status: http.StatusUnauthorized, Message: "Sign in to change your password."}
	}
	f := r.PostForm
	var err error
	if f.Get("new_password") != f.Get("new_password2") {
		err = &apiError{Status: http.StatusBadRequest, Message: "The two new passwords differ."}
	} else {
		err = v.write("update password", func() error {
			return c.svc.Users.SetPassword(r.Context(), v.p, v.User.UserID, f.Get("old_password"), f.Get("new_password"))
		})
	}
	if err != nil {
		if err := v.fail("password", err); err != nil {
			return err
		}
		v.Form = url.Values{} // never send passwords back
		v.Title = "Your account"
		c.render(w, v, "account")
		return nil
	}
	return redirect(w, r, "/account", "Your password is changed.")
}

// setTheme stores the chosen theme in a cookie (the script does the same
// without a round trip).
func (c *Console) setTheme(w http.ResponseWriter, r *http.Request, v *view) error {
	theme := r.PostForm.Get("theme")
	if theme == "light" || theme == "dark" {
		http.SetCookie(w, &http.Cookie{Name: themeCookie, Value: theme, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode})
	} else {
		http.SetCookie(w, &http.Cookie{Name: themeCookie, Value: "", Path: "/", MaxAge: -1})
	}
	http.Redirect(w, r, safeNext(r.PostForm.Get("back")), http.StatusSeeOther)
	return nil
}
